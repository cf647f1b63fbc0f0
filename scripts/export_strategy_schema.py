"""Write ``alp/strategy_params.json``: every strategy's parameters (kind, default, bounds,
choices) so the API can validate pool settings without importing torch/acquisition.

Run after changing a strategy's ``param_spec``; ``tests/unit/test_strategy_schema.py`` fails
while the file is stale. Extra ``check`` callables are enforced by the worker only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "alp" / "strategy_params.json"


def build() -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from acquisition.registry import _REGISTRY, _ensure_builtin

    _ensure_builtin()
    out: dict[str, Any] = {}
    for name, cls in sorted(_REGISTRY.items()):
        params = {}
        for pname, p in sorted(cls.param_spec.items()):
            params[pname] = {
                "kind": p.kind.__name__,
                "default": p.default,
                "choices": list(p.choices) if p.choices is not None else None,
                "low": p.low,
                "high": p.high,
                "low_open": p.low_open,
                "high_open": p.high_open,
                "nullable": p.nullable,
                "help": p.help,
            }
        out[name] = {"description": cls.description, "params": params}
    return out


def render() -> str:
    return json.dumps(build(), indent=1, sort_keys=True, default=str) + "\n"


if __name__ == "__main__":
    TARGET.write_text(render())
    print(f"wrote {TARGET.relative_to(ROOT)}")
