from __future__ import annotations

from pathlib import Path

from alp.config import Settings


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
