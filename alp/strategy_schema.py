"""API-side validation of strategy parameters against ``alp/strategy_params.json``.

The JSON is exported from ``acquisition`` by ``scripts/export_strategy_schema.py`` (a test
keeps it in sync), so the API can reject unknown parameters, wrong types and out-of-range
values with a 422 without importing torch. Extra cross-field checks run in the worker.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

_PATH = Path(__file__).with_name("strategy_params.json")
# Bounds the API adds where the exported spec leaves a side open (README "Errors and limits").
MAX_PARAM_NUMBER = 1_000_000
MAX_PARAM_ITEMS = 100  # list entries
MAX_PARAM_TEXT = 200  # string characters
_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
}


@lru_cache
def schema() -> dict[str, Any]:
    return json.loads(_PATH.read_text())


def strategy_names() -> list[str]:
    return sorted(schema())


def _check_value(strategy: str, name: str, spec: dict[str, Any], value: Any) -> None:
    where = f"strategy {strategy!r}: parameter {name!r}"
    if value is None:
        if not spec["nullable"]:
            raise ValueError(f"{where} must not be null")
        return
    kind = spec["kind"]
    ok_types = _TYPES.get(kind, (object,))
    wrong_type = (isinstance(value, bool) and kind != "bool") or not isinstance(value, ok_types)
    integral_float = kind == "int" and isinstance(value, float) and value.is_integer()
    if wrong_type and not integral_float:
        raise ValueError(f"{where} expects {kind}, got {type(value).__name__} {value!r}")
    if kind in ("int", "float"):
        if not math.isfinite(value):
            raise ValueError(f"{where} must be finite")
        if abs(value) > MAX_PARAM_NUMBER:
            raise ValueError(f"{where} must lie between -{MAX_PARAM_NUMBER} and {MAX_PARAM_NUMBER}")
        low, high = spec["low"], spec["high"]
        if low is not None and (value < low or (spec["low_open"] and value == low)):
            raise ValueError(f"{where} must be {'>' if spec['low_open'] else '>='} {low}")
        if high is not None and (value > high or (spec["high_open"] and value == high)):
            raise ValueError(f"{where} must be {'<' if spec['high_open'] else '<='} {high}")
    if kind == "list" and len(value) > MAX_PARAM_ITEMS:
        raise ValueError(f"{where} takes at most {MAX_PARAM_ITEMS} entries")
    if kind == "str" and len(value) > MAX_PARAM_TEXT:
        raise ValueError(f"{where} takes at most {MAX_PARAM_TEXT} characters")
    if spec["choices"] is not None:
        items = value if kind == "list" else [value]
        bad = [v for v in items if v not in spec["choices"]]
        if bad:
            allowed = ", ".join(map(str, spec["choices"]))
            raise ValueError(f"{where} got {bad[0]!r}; allowed: {allowed}")


def check_params(strategy: str, params: dict[str, Any]) -> None:
    """Raise ``ValueError`` with a clear reason if ``params`` cannot suit ``strategy``."""
    specs = schema()[strategy]["params"]
    unknown = sorted(set(params) - set(specs))
    if unknown:
        known = ", ".join(sorted(specs)) or "(none)"
        raise ValueError(
            f"strategy {strategy!r} has no parameter {unknown[0]!r}; known parameters: {known}"
        )
    for name, value in params.items():
        _check_value(strategy, name, specs[name], value)
