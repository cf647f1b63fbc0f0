"""Settings, read from ``ALP_*`` environment variables (pydantic-settings).

Every path defaults to a location inside ``data_dir`` so that one directory holds the
whole embedded installation (SQLite database, SQLite broker, image storage, secret key).
"""

from __future__ import annotations

import os
import re
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Exit status of every command that stops on a configuration error (sysexits.h EX_CONFIG).
CONFIG_ERROR_EXIT = 78


KEY_FORM = "alp_<12 hex digits>_<at least 32 letters, digits, '-' or '_'>"
_BOOTSTRAP_KEY = re.compile(r"alp_[0-9a-f]{12}_[A-Za-z0-9_-]{32,}")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S*$")
_POSITIVE = (
    "max_upload_bytes", "max_image_pixels", "max_zip_bytes", "max_zip_members",
    "signed_url_ttl_s", "worker_stale_after_s", "score_shard_size",
)  # fmt: skip


class ConfigError(ValueError):
    """A bad setting; ``str()`` is one line naming the variable and the expected form."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem

    @classmethod
    def from_validation(cls, exc: ValidationError) -> ConfigError:
        """The first error of a settings ``ValidationError`` (never echoes the value)."""
        err = exc.errors(include_input=False)[0]
        variable = f"ALP_{str(err['loc'][0]).upper()}" if err["loc"] else "ALP_* settings"
        problem = str(err["msg"]).removeprefix("Value error, ")
        return cls(variable, problem)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ALP_", extra="ignore")

    data_dir: Path = Field(Path("./alp-data"), description="Root of all local state.")
    database_url: str = Field("", description="SQLAlchemy URL; default SQLite in data_dir.")
    broker_url: str = Field("", description="Celery broker; default SQLite (kombu sqla).")
    storage_dir: Path | None = Field(None, description="Image/checkpoint store root.")
    storage_url: str = Field(
        "",
        description="Blob store: file:///dir or s3://bucket/prefix?endpoint_url=...; "
        "default file://<storage_dir>. S3 credentials come from the standard AWS variables.",
    )
    storage_presign: bool = Field(
        False,
        description="Image URLs redirect to presigned store URLs (S3) instead of "
        "the API streaming the bytes.",
    )
    cache_dir: Path | None = Field(None, description="Workers' local blob cache directory.")
    cache_max_bytes: int = Field(
        20 * 1024**3, description="Size limit of the workers' blob cache (LRU).", gt=0
    )
    public_base_url: str = Field(
        "http://127.0.0.1:8000", description="Base URL browsers (and Label Studio) use."
    )
    secret_key: str = Field("", description="HMAC key for signed URLs; generated if empty.")
    bootstrap_api_key: str = Field("", description="Admin key to create on first start.")
    max_upload_bytes: int = Field(50 * 1024 * 1024, description="Max bytes per image file.")
    max_image_pixels: int = Field(64_000_000, description="Max width*height per image.")
    decode_memory_bytes: int = Field(
        512 * 1024 * 1024,
        description="Memory all concurrent image decodes of one API process may use together "
        "(an image needing more is decoded alone).",
        gt=0,
    )
    max_zip_bytes: int = Field(2 * 1024**3, description="Max total uncompressed zip size.")
    max_zip_members: int = Field(100_000, description="Max files in one zip upload.")
    signed_url_ttl_s: int = Field(24 * 3600, description="Lifetime of signed content URLs.")
    worker_heartbeat_s: float = Field(5.0, description="Running stages beat this often.")
    worker_stale_after_s: int = Field(30, description="Job heartbeat age considered stale.")
    watchdog_every_s: float = Field(10.0, description="Beat interval of the watchdog task.")
    train_checkpoint_every: int = Field(
        100, description="Training resume checkpoint every N iterations (0: off)."
    )
    train_checkpoint_every_s: float = Field(
        120.0, description="Training resume checkpoint every M seconds (0: off)."
    )
    outbox_retry_max_s: float = Field(
        5.0, description="Longest back-off between re-sends of a task the broker refused."
    )
    score_shard_size: int = Field(256, description="Images per scoring shard.")
    device: str = Field("auto", description="Torch device for workers: auto|cpu|cuda[:N].")
    worker_metrics_port: int = Field(
        0,
        description="Workers serve Prometheus metrics on this port (0: off); see "
        "docs/deploy.md 'What to watch'.",
        ge=0,
        le=65535,
    )
    log_format: str = Field(
        "text", description="text, or json: one JSON object per log line (API and workers)."
    )
    webhook_secret: str = Field("", description="Shared secret for Label Studio webhooks.")
    content_cors_origins: str = Field(
        "",
        description="Comma-separated origins allowed to load image content cross-origin "
        "(* = any); default: the connected Label Studio servers' origins.",
    )

    @field_validator("bootstrap_api_key")
    @classmethod
    def _key_form(cls, v: str) -> str:
        if v and not _BOOTSTRAP_KEY.fullmatch(v):
            raise ValueError(f"expected {KEY_FORM}")
        return v

    @field_validator("database_url")
    @classmethod
    def _db_url_form(cls, v: str) -> str:
        if v and not _URL.match(v):
            raise ValueError("expected sqlite:///<path> or postgresql+psycopg://user@host/db")
        return v

    @field_validator("broker_url")
    @classmethod
    def _broker_url_form(cls, v: str) -> str:
        if v and not _URL.match(v):
            raise ValueError("expected redis://host:6379/0 or sqla+sqlite:///<path>")
        return v

    @field_validator("public_base_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", v):
            raise ValueError("expected http://host[:port] or https://host[:port][/path]")
        return v

    @field_validator("device")
    @classmethod
    def _device_form(cls, v: str) -> str:
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", v):
            raise ValueError("expected auto, cpu, cuda, cuda:N or mps")
        return v

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, v: str) -> str:
        if v not in ("text", "json"):
            raise ValueError("expected text or json")
        return v

    @field_validator(*_POSITIVE)
    @classmethod
    def _positive(cls, v: int) -> int:
        if v <= 0:
            raise ValueError("expected a positive integer")
        return v

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
        if self.cache_dir is None:
            self.cache_dir = self.data_dir / "cache"
        return self

    @property
    def embedded_broker(self) -> bool:
        return self.broker_url.startswith("sqla+")

    def ensure_dirs(self) -> None:
        """Create the data and storage dirs; ``ConfigError`` if that is impossible."""
        assert self.storage_dir is not None
        paths = [("ALP_DATA_DIR", self.data_dir)]
        if not self.storage_url or self.storage_url.startswith("file:"):
            paths.append(("ALP_STORAGE_DIR", self.storage_dir))
        for var, path in paths:
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    var, f"expected a writable directory; {path}: {exc.strerror or exc}"
                ) from exc

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


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment plus ``overrides``; ``ConfigError`` when invalid."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError.from_validation(exc) from None


@lru_cache
def get_settings() -> Settings:
    return Settings()
