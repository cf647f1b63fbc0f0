"""``file://`` backend: files under a root directory, written atomically (temp file +
rename) so a crash never leaves half a file under a real key."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from alp.storage.base import BlobStorage, StorageUnavailable, check_key


class LocalStorage(BlobStorage):
    """Blobs as files under ``root``. ``path`` is for this backend's own tests and the
    worker cache's pass-through only; the rest of alp uses the ``Storage`` interface."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.url = self.root.as_uri()

    def path(self, key: str) -> Path:
        p = (self.root / key).resolve()
        if self.root not in p.parents:
            raise ValueError(f"storage key escapes the store: {key!r}")
        return p

    def _atomic_target(self, key: str) -> tuple[Path, int, str]:
        dest = self.path(check_key(key))
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
        p = self.path(key)
        if not p.is_file():
            raise FileNotFoundError(f"no blob {key!r} in {self.url}")
        return p.open("rb")

    def size(self, key: str) -> int | None:
        p = self.path(key)
        return p.stat().st_size if p.is_file() else None

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        p = self.path(prefix)
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)

    def iter_objects(self, prefix: str = "") -> Iterator[tuple[str, int, float]]:
        """``(key, size, modified unix time)`` of every blob under folder ``prefix``."""
        base = self.path(prefix) if prefix else self.root
        for f in base.rglob("*"):
            if f.name.startswith(".tmp-"):
                continue
            try:
                st = f.stat()
            except FileNotFoundError:
                continue
            if f.is_file():
                yield f.relative_to(self.root).as_posix(), st.st_size, st.st_mtime

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        for key, _, _ in self.iter_objects(prefix):
            yield key

    def presigned_url(self, key: str, ttl_s: int, content_type: str) -> str | None:
        """Local files have no URL of their own: the API streams them."""
        return None

    def check(self) -> None:
        """Raise ``StorageUnavailable`` unless the root is a writable directory."""
        if not self.root.is_dir() or not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageUnavailable(f"storage directory {self.root} is not writable")
