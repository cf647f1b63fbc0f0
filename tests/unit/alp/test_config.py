from __future__ import annotations

from pathlib import Path

import pytest

from alp.config import ConfigError, Settings, load_settings


def test_defaults_live_in_data_dir(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path / "d")
    assert s.database_url == f"sqlite:///{tmp_path / 'd' / 'alp.db'}"
    assert s.broker_url == f"sqla+sqlite:///{tmp_path / 'd' / 'broker.db'}"
    assert s.storage_dir == tmp_path / "d" / "storage"
    assert s.embedded_broker


def test_env_prefix(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ALP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ALP_BROKER_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("ALP_MAX_IMAGE_PIXELS", "1000")
    s = Settings()
    assert s.data_dir == tmp_path
    assert s.max_image_pixels == 1000
    assert not s.embedded_broker


def test_secret_key_generated_once_and_persisted(tmp_path: Path) -> None:
    a = Settings(data_dir=tmp_path).resolved_secret_key()
    b = Settings(data_dir=tmp_path).resolved_secret_key()
    assert a == b and len(a) == 64
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert Settings(data_dir=tmp_path, secret_key="given").resolved_secret_key() == "given"


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("ALP_BOOTSTRAP_API_KEY", "alp_short_secretvalue", "expected alp_<12 hex digits>_"),
        ("ALP_BOOTSTRAP_API_KEY", "alp_ABCDEFABCDEF_" + "s" * 40, "expected alp_<12 hex digits>_"),
        ("ALP_MAX_UPLOAD_BYTES", "lots", "valid integer"),
        ("ALP_SCORE_SHARD_SIZE", "0", "expected a positive integer"),
        ("ALP_DEVICE", "gpu0", "expected auto, cpu, cuda, cuda:N or mps"),
        ("ALP_DATABASE_URL", "my-database", "expected sqlite:///<path> or postgresql"),
        ("ALP_BROKER_URL", "localhost:6379", "expected redis://host:6379/0 or sqla+sqlite"),
        ("ALP_PUBLIC_BASE_URL", "alp.example.org", "expected http://host[:port]"),
        ("ALP_LOG_FORMAT", "xml", "expected text or json"),
        ("ALP_WORKER_METRICS_PORT", "70000", "less than or equal to 65535"),
    ],
)
def test_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, var: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as info:
        load_settings(data_dir=tmp_path)
    msg = str(info.value)
    assert info.value.variable == var and msg.startswith(f"{var}: ")
    assert expected in msg and "\n" not in msg and value not in msg


def test_good_bootstrap_key_is_accepted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = "alp_0123456789ab_" + "A-b_" * 11
    monkeypatch.setenv("ALP_BOOTSTRAP_API_KEY", key)
    assert load_settings(data_dir=tmp_path).bootstrap_api_key == key


def test_data_dir_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    s = load_settings(data_dir=tmp_path / "file" / "data")
    with pytest.raises(ConfigError, match=r"^ALP_DATA_DIR: expected a writable directory"):
        s.ensure_dirs()
