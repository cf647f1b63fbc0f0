"""Architecture guards (DESIGN §1): the API process never loads torch; ``simulation``
never imports ``api`` or ``worker``; ``alp`` never imports ``worker``; the ``worker``
modules import each other without a circle."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(package: str) -> Iterator[tuple[str, str, bool]]:
    """``(module, imported module, at module level)`` for every absolute import in the
    package's files, function-level (lazy) imports included; ``from a import b`` names
    ``a.b`` when that is a module of this repository, else ``a``."""
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text())
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = []
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    base = ROOT.joinpath(*sub.split("."))
                    is_module = base.with_suffix(".py").exists() or (base / "__init__.py").exists()
                    targets.append(sub if is_module else node.module)
            else:
                continue
            for target in targets:
                yield _module_name(path), target, id(node) in top


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
        cwd=ROOT, capture_output=True, text=True, check=True, env={"PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    return set(out.stdout.split())


def test_api_main_does_not_import_torch() -> None:
    mods = _modules_after("import api.main\napi.main.create_app")
    assert "api.main" in mods
    forbidden = {"torch", "torchvision", "worker"}
    assert not forbidden & mods, forbidden & mods
    # only the pure-Python strategy parameter models (to validate strategy_params)
    allowed_acquisition = {"acquisition", "acquisition.params", "acquisition.param_specs"}
    assert {m for m in mods if m.split(".")[0] == "acquisition"} <= allowed_acquisition
    # only the pure-Python training-config dataclasses (to validate train_overrides)
    allowed_models = {
        "models", "models.config", "models.config_fields", "models.heads", "models.heads.config"
    }  # fmt: skip
    assert {m for m in mods if m.split(".")[0] == "models"} <= allowed_models


def test_validating_train_overrides_does_not_import_torch() -> None:
    mods = _modules_after(
        "from alp.schemas import PoolSettings\n"
        "PoolSettings(train_preset='huale', train_overrides={'heads': {'sync_lambda': 0.3}})"
    )
    assert "models.config" in mods and "torch" not in mods


def test_validating_strategy_params_does_not_import_torch() -> None:
    mods = _modules_after(
        "from alp.schemas import PoolSettings\n"
        "PoolSettings(strategy='hua', strategy_params={'retrieval_factor': 2})"
    )
    assert "acquisition.param_specs" in mods and "torch" not in mods


def test_building_the_app_does_not_import_torch(tmp_path: Path) -> None:
    code = (
        "from alp.config import Settings\nfrom api.main import create_app\n"
        f"create_app(Settings(data_dir={str(tmp_path)!r}))"
    )
    mods = _modules_after(code)
    assert "torch" not in mods and "worker" not in mods


def test_alp_core_and_cli_do_not_import_torch() -> None:
    mods = _modules_after("import alp.cli, alp.jobs, alp.services.pools, worker.tasks")
    assert "torch" not in mods


def test_client_and_remote_cli_do_not_import_torch_or_the_server() -> None:
    mods = _modules_after(
        "import alp.client, alp.cli_remote.commands, alp.cli_remote.cycles\nfrom alp.cli import app"
    )
    assert "alp.client" in mods and "alp.cli_remote.commands" in mods
    assert not {"torch", "torchvision", "worker", "models"} & mods
    lean = _modules_after("import alp.client")
    assert not {"torch", "sqlalchemy", "fastapi", "celery"} & lean, "client pulls server deps"


def test_simulation_never_imports_api_or_worker() -> None:
    direct = {
        (m, t) for m, t, _top in _imports("simulation") if t.split(".")[0] in {"api", "worker"}
    }
    assert not direct, direct
    mods = _modules_after(
        "import simulation.cli, simulation.backtest, simulation.demo, simulation.synthetic_pool"
    )
    assert "simulation.backtest" in mods and "torch" in mods
    assert not {m for m in mods if m.split(".")[0] in {"api", "worker"}}


def test_alp_never_imports_worker_and_runs_simulation_only_inside_commands() -> None:
    edges = list(_imports("alp"))
    assert not [(m, t) for m, t, _top in edges if t.split(".")[0] == "worker"]
    assert not [(m, t) for m, t, top in edges if t.split(".")[0] == "simulation" and top]


def test_worker_modules_import_each_other_without_a_circle() -> None:
    """Lazy imports count too: a circle through a function-level import still ties the
    modules together (the Celery app is handed in at worker start instead)."""
    graph: dict[str, set[str]] = {}
    for module, target, _top in _imports("worker"):
        if target.split(".")[0] == "worker" and target != module:
            graph.setdefault(module, set()).add(target)
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError(
                "import circle: " + " -> ".join([*path[path.index(module) :], module])
            )
        if module in done:
            return
        for target in sorted(graph.get(module, ())):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
