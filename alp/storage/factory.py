"""Choose the storage backend from one URL (``ALP_STORAGE_URL``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from alp.storage.base import Storage

if TYPE_CHECKING:
    from alp.config import Settings
    from alp.storage.cache import BlobCache


def storage_url(settings: Settings) -> str:
    """The configured store: ``ALP_STORAGE_URL``, else ``file://<ALP_STORAGE_DIR>``."""
    if settings.storage_url:
        return settings.storage_url
    assert settings.storage_dir is not None
    return Path(settings.storage_dir).resolve().as_uri()


@lru_cache(maxsize=8)
def open_storage_url(url: str) -> Storage:
    """``file:///dir`` (or a plain path) → ``LocalStorage``; ``s3://bucket/prefix?...`` →
    ``S3Storage``. One instance per URL and process (S3 clients are reused)."""
    from alp.storage.local import LocalStorage

    parts = urlsplit(url)
    if parts.scheme == "s3":
        from alp.storage.s3 import S3Storage

        return S3Storage(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise ValueError(f"ALP_STORAGE_URL {url!r}: use file:///absolute/path")
        return LocalStorage(Path(unquote(parts.path)))
    if parts.scheme == "":
        return LocalStorage(Path(url))
    raise ValueError(f"unsupported ALP_STORAGE_URL scheme {parts.scheme!r} (file:// or s3://)")


def open_storage(settings: Settings) -> Storage:
    return open_storage_url(storage_url(settings))


def open_cache(settings: Settings) -> BlobCache:
    """The worker's local blob cache for the configured store (``ALP_CACHE_DIR``,
    ``ALP_CACHE_MAX_BYTES``)."""
    from alp.storage.cache import BlobCache

    assert settings.cache_dir is not None
    return BlobCache(open_storage(settings), settings.cache_dir, settings.cache_max_bytes)
