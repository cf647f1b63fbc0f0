"""Bounded LRU copy of blobs on local disk, for workers that need files (Pillow, torch).

``BlobCache.fetch(key)`` returns a local file with the blob's bytes, downloading it only
when it is not cached yet, so a worker downloads each image at most once while the cache
has room. Total size is kept at or under ``max_bytes`` by deleting the least recently
used files (a hit refreshes the file's mtime) after each download; the file just fetched
is never the one evicted. Several worker processes may share one cache directory:
downloads land under a temp name and are renamed into place, and eviction tolerates
files another process removed first. With a ``LocalStorage`` the cache is a pass-through
(the store's own file is returned; nothing is copied).
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import threading
from pathlib import Path

from alp.storage.base import Storage, check_key
from alp.storage.local import LocalStorage


class BlobCache:
    def __init__(self, storage: Storage, root: Path, max_bytes: int) -> None:
        self.storage = storage
        tag = hashlib.sha256(storage.url.encode()).hexdigest()[:12]
        self.root = Path(root) / tag
        self.max_bytes = max_bytes
        self._total: int | None = None
        self._lock = threading.Lock()
        self.downloads = 0  # blobs this process downloaded (for tests and benchmarks)

    def fetch(self, key: str) -> Path:
        """Local file holding blob ``key``; ``FileNotFoundError`` if the store lacks it."""
        if isinstance(self.storage, LocalStorage):
            return self.storage.path(key)
        dest = self.root / check_key(key)
        try:
            os.utime(dest)
            return dest
        except FileNotFoundError:
            pass
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
        os.close(fd)
        try:
            self.storage.download(key, Path(tmp))  # type: ignore[attr-defined]
            size = os.path.getsize(tmp)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.downloads += 1
        self._added(size, keep=dest)
        return dest

    def blob(self, key: str) -> CachedBlob:
        """A path-like handle that fetches ``key`` when opened (see ``CachedBlob``)."""
        return CachedBlob(self, key)

    def usage(self) -> int:
        """Bytes the cache directory holds now."""
        return sum(size for _, size, _ in self._files())

    def _files(self) -> list[tuple[float, int, Path]]:
        out = []
        for dirpath, _dirs, names in os.walk(self.root):
            for name in names:
                if name.startswith(".tmp-"):
                    continue
                p = Path(dirpath, name)
                try:
                    st = p.stat()
                except FileNotFoundError:
                    continue
                out.append((st.st_mtime, st.st_size, p))
        return out

    def _added(self, size: int, keep: Path) -> None:
        with self._lock:
            if self._total is None:
                self._total = self.usage()
            else:
                self._total += size
            if self._total <= self.max_bytes:
                return
            files = sorted(self._files(), key=lambda f: f[0])
            total = sum(s for _, s, _ in files)
            for _, fsize, p in files:
                if total <= self.max_bytes:
                    break
                if p == keep:
                    continue
                p.unlink(missing_ok=True)
                total -= fsize
            self._total = total


class CachedBlob(os.PathLike):
    """``os.fspath()`` of it fetches the blob into the cache and gives the local path, so
    it can stand for a file path in training manifests: an entry evicted between epochs is
    downloaded again when the loader opens it. Picklable (for DataLoader workers)."""

    def __init__(self, cache: BlobCache, key: str) -> None:
        self.cache = cache
        self.key = key

    def __fspath__(self) -> str:
        return str(self.cache.fetch(self.key))

    def __getstate__(self) -> dict[str, object]:
        return {"key": self.key, "url": self.cache.storage.url,
                "root": str(self.cache.root.parent), "max": self.cache.max_bytes}  # fmt: skip

    def __setstate__(self, state: dict[str, object]) -> None:
        self.cache = _shared_cache(str(state["url"]), str(state["root"]), int(state["max"]))  # type: ignore[call-overload]
        self.key = str(state["key"])

    def __repr__(self) -> str:
        return f"CachedBlob({self.key!r})"

    def __str__(self) -> str:
        return self.key


@functools.lru_cache(maxsize=8)
def _shared_cache(url: str, root: str, max_bytes: int) -> BlobCache:
    """One ``BlobCache`` per configuration in a process that unpickles ``CachedBlob``s."""
    from alp.storage.factory import open_storage_url

    return BlobCache(open_storage_url(url), Path(root), max_bytes)
