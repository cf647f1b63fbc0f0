"""The storage interface every backend implements, and the key layout."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from alp.errors import AlpError

CHUNK = 256 * 1024


class StorageUnavailable(AlpError):
    """The store cannot be reached or used (network, credentials, missing bucket): the
    API answers 503 with the reason."""

    status_code = 503


@runtime_checkable
class Storage(Protocol):
    """What the rest of alp may do with a blob store (no local paths)."""

    url: str

    def put_bytes(self, key: str, data: bytes) -> None: ...
    def put_file(self, key: str, src: Path) -> None: ...
    def open(self, key: str) -> BinaryIO: ...
    def open_sized(self, key: str) -> tuple[BinaryIO, int | None]: ...
    def read_bytes(self, key: str) -> bytes: ...
    def iter_chunks(self, key: str, chunk_size: int = CHUNK) -> Iterator[bytes]: ...
    def size(self, key: str) -> int | None: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def delete_prefix(self, prefix: str) -> None: ...
    def iter_keys(self, prefix: str = "") -> Iterator[str]: ...
    def iter_objects(self, prefix: str = "") -> Iterator[tuple[str, int, float]]: ...
    def download(self, key: str, dest: Path) -> None: ...
    def presigned_url(self, key: str, ttl_s: int, content_type: str) -> str | None: ...
    def check(self) -> None: ...


class BlobStorage:
    """Helpers shared by the backends, written in terms of ``open``."""

    def read_bytes(self, key: str) -> bytes:
        with self.open(key) as fh:  # type: ignore[attr-defined]
            return fh.read()

    def open_sized(self, key: str) -> tuple[BinaryIO, int | None]:
        """``open(key)`` and the blob's size (one request on S3)."""
        fh = self.open(key)  # type: ignore[attr-defined]
        return fh, self.size(key)  # type: ignore[attr-defined]

    def iter_chunks(self, key: str, chunk_size: int = CHUNK) -> Iterator[bytes]:
        """The blob's bytes in chunks; opens the blob at the first ``next`` (so a missing
        key raises ``FileNotFoundError`` there) and closes it when exhausted or closed."""
        with self.open(key) as fh:  # type: ignore[attr-defined]
            while chunk := fh.read(chunk_size):
                yield chunk

    def download(self, key: str, dest: Path) -> None:
        """Copy the blob to the local file ``dest`` (written in place; callers rename)."""
        with self.open(key) as src, open(dest, "wb") as dst:  # type: ignore[attr-defined]
            shutil.copyfileobj(src, dst, CHUNK)


def check_key(key: str) -> str:
    """``key`` if it is a clean relative key; ``ValueError`` otherwise."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid storage key: {key!r}")
    return key


def image_key(pool_id: int, sha256: str, ext: str) -> str:
    return f"pools/{pool_id}/images/{sha256[:2]}/{sha256}.{ext}"


def checkpoint_key(pool_id: int, cycle_id: int) -> str:
    return f"pools/{pool_id}/checkpoints/cycle-{cycle_id}.pt"


def thumbnail_key(pool_id: int, image_id: int, variant: str) -> str:
    return f"pools/{pool_id}/thumbs/{image_id}-{variant}.jpg"
