"""Blob storage for images, thumbnails and checkpoints.

Keys are ``/``-separated relative paths (``pools/3/images/ab/abcd....jpg``). The local
implementation writes atomically (temp file + rename) so a crash never leaves half a file
under a real key.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol


class Storage(Protocol):
    def put_bytes(self, key: str, data: bytes) -> None: ...
    def put_file(self, key: str, src: Path) -> None: ...
    def open(self, key: str) -> BinaryIO: ...
    def path(self, key: str) -> Path: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def delete_prefix(self, prefix: str) -> None: ...


class LocalStorage:
    """Files under ``root``; ``path(key)`` gives a local path usable by Pillow/torch."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        p = (self.root / key).resolve()
        if self.root not in p.parents:
            raise ValueError(f"storage key escapes the store: {key!r}")
        return p

    def _atomic_target(self, key: str) -> tuple[Path, int, str]:
        dest = self.path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
        return dest, fd, tmp

    def put_bytes(self, key: str, data: bytes) -> None:
        dest, fd, tmp = self._atomic_target(key)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_file(self, key: str, src: Path) -> None:
        dest, fd, tmp = self._atomic_target(key)
        os.close(fd)
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def open(self, key: str) -> BinaryIO:
        return self.path(key).open("rb")

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        p = self.path(prefix)
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        base = self.path(prefix) if prefix else self.root
        for f in base.rglob("*"):
            if f.is_file() and not f.name.startswith(".tmp-"):
                yield f.relative_to(self.root).as_posix()


def image_key(pool_id: int, sha256: str, ext: str) -> str:
    return f"pools/{pool_id}/images/{sha256[:2]}/{sha256}.{ext}"


def checkpoint_key(pool_id: int, cycle_id: int) -> str:
    return f"pools/{pool_id}/checkpoints/cycle-{cycle_id}.pt"


def thumbnail_key(pool_id: int, image_id: int, variant: str) -> str:
    return f"pools/{pool_id}/thumbs/{image_id}-{variant}.jpg"
