"""Settings, read from ``ALP_*`` environment variables (pydantic-settings).

Every path defaults to a location inside ``data_dir`` so that one directory holds the
whole embedded installation (SQLite database, SQLite broker, image storage, secret key).
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ALP_", extra="ignore")

    data_dir: Path = Field(Path("./alp-data"), description="Root of all local state.")
    database_url: str = Field("", description="SQLAlchemy URL; default SQLite in data_dir.")
    broker_url: str = Field("", description="Celery broker; default SQLite (kombu sqla).")
    storage_dir: Path | None = Field(None, description="Image/checkpoint store root.")
    public_base_url: str = Field(
        "http://127.0.0.1:8000", description="Base URL browsers (and Label Studio) use."
    )
    secret_key: str = Field("", description="HMAC key for signed URLs; generated if empty.")
    bootstrap_api_key: str = Field("", description="Admin key to create on first start.")
    max_upload_bytes: int = Field(50 * 1024 * 1024, description="Max bytes per image file.")
    max_image_pixels: int = Field(64_000_000, description="Max width*height per image.")
    max_zip_bytes: int = Field(2 * 1024**3, description="Max total uncompressed zip size.")
    max_zip_members: int = Field(100_000, description="Max files in one zip upload.")
    signed_url_ttl_s: int = Field(24 * 3600, description="Lifetime of signed content URLs.")
    worker_stale_after_s: int = Field(120, description="Job heartbeat age considered stale.")
    score_shard_size: int = Field(256, description="Images per scoring shard.")
    device: str = Field("auto", description="Torch device for workers: auto|cpu|cuda[:N].")
    webhook_secret: str = Field("", description="Shared secret for Label Studio webhooks.")
    torch_home: Path | None = Field(
        None, description="torchvision's weight cache root; default $TORCH_HOME or data_dir/torch."
    )
    weights_download: bool = Field(
        True, description="Workers may download missing pretrained weights."
    )

    @model_validator(mode="after")
    def _defaults(self) -> Settings:
        self.data_dir = Path(self.data_dir).expanduser().resolve()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'alp.db'}"
        if not self.broker_url:
            self.broker_url = f"sqla+sqlite:///{self.data_dir / 'broker.db'}"
        if self.storage_dir is None:
            self.storage_dir = self.data_dir / "storage"
        if self.torch_home is None:
            env = os.environ.get("TORCH_HOME")
            self.torch_home = Path(env) if env else self.data_dir / "torch"
        return self

    @property
    def embedded_broker(self) -> bool:
        return self.broker_url.startswith("sqla+")

    def ensure_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        assert self.storage_dir is not None
        self.storage_dir.mkdir(parents=True, exist_ok=True)

    def resolved_secret_key(self) -> str:
        """The configured secret, or one generated once and persisted in the data dir."""
        if self.secret_key:
            return self.secret_key
        self.ensure_dirs()
        path = self.data_dir / "secret_key"
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.write_text(secrets.token_hex(32))
            tmp.chmod(0o600)
            tmp.replace(path)
        self.secret_key = path.read_text().strip()
        return self.secret_key


@lru_cache
def get_settings() -> Settings:
    return Settings()
