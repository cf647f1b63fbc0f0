"""Request/response schemas of the Label Studio endpoints (the token is write-only)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator


class LabelStudioConnect(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="Label Studio base URL, e.g. http://label-studio:8080")
    token: str = Field(
        min_length=1,
        repr=False,
        description="Legacy API token or personal access token (JWT). Never returned.",
    )
    project_id: int | None = Field(
        None, ge=1, le=2**31 - 1, description="Use this existing project instead of creating one."
    )

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        message = "must be an http(s) URL (with a host) of at most 500 characters"
        if not v.startswith(("http://", "https://")) or len(v) > 500:
            raise ValueError(message)
        if any(c.isspace() or not c.isprintable() for c in v):
            raise ValueError(f"{message}, without spaces or control characters")
        try:
            parts = urlsplit(v)
            _ = parts.port  # raises on a malformed or out-of-range port
        except ValueError as exc:
            raise ValueError(f"{message}: {exc}") from exc
        if not parts.hostname:
            raise ValueError(message)
        return v

    @field_validator("token")
    @classmethod
    def _token(cls, v: str) -> str:
        v = v.strip()
        if not v or any(c.isspace() for c in v):
            raise ValueError("must be a non-blank token without whitespace")
        if not (v.isascii() and v.isprintable()):
            raise ValueError("must contain printable ASCII characters only")
        return v


class LabelStudioStatus(BaseModel):
    pool_id: int
    url: str
    project_id: int
    project_url: str
    state: Literal["connected", "error"]
    webhook_registered: bool
    tasks_pushed: int
    tasks_annotated: int
    tasks_skipped: int
    tasks_remaining: int = Field(description="pushed tasks neither annotated nor skipped")
    boxes_predrawn: int = Field(description="pre-drawn boxes over all pushed tasks")
    tasks_without_boxes: int = Field(description="pushed tasks that got no pre-drawn box")
    last_push_at: datetime | None
    last_sync_at: datetime | None
    last_error: str | None
    created_at: datetime


class SyncQueued(BaseModel):
    pool_id: int
    queued: bool = True
