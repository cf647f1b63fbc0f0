"""Architecture guards: the API process never loads torch (DESIGN §1)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


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
