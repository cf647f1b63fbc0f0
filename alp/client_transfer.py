"""Bulk transfer helpers of :mod:`alp.client`: resumable parallel uploads, folder zips.

``upload_files`` hashes every local file (SHA-256, on threads), asks the server which
hashes the pool already holds (``POST /pools/{id}/images/lookup``), and sends only the
others, in batches of a few files per request on ``workers`` parallel requests. A run
interrupted with Ctrl-C therefore resumes where it stopped: what was stored is skipped.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alp.client import Client, UploadResult

IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})
BATCH_FILES = 16
BATCH_BYTES = 32 * 1024 * 1024


@dataclass
class UploadSummary:
    """Outcome of :func:`upload_files`; ``rejected`` holds ``{"file", "reason"}`` dicts."""

    files: int = 0
    skipped: int = 0  # already in the pool before this run (not sent)
    accepted: int = 0
    duplicates: int = 0  # sent, but the pool (or this run) already had the content
    rejected: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def images_per_s(self) -> float:
        sent = self.accepted + self.duplicates + len(self.rejected)
        return sent / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "images_per_s": round(self.images_per_s, 2)}


def collect(paths: Iterable[str | Path], recursive: bool = False) -> list[Path]:
    """Files to upload: given files as they are, folders' images (sub-folders only with
    ``recursive``), in a stable order; ``FileNotFoundError`` for a missing path."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = p.rglob("*") if recursive else p.iterdir()
            out.extend(sorted(
                f for f in found
                if f.is_file() and f.suffix.lower() in IMAGE_EXTS and not f.name.startswith(".")
            ))  # fmt: skip
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"no such file or folder: {p}")
    return list(dict.fromkeys(out))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _batches(files: Sequence[Path], batch_files: int = BATCH_FILES) -> list[list[Path]]:
    out: list[list[Path]] = []
    cur: list[Path] = []
    size = 0
    for f in files:
        n = f.stat().st_size
        if cur and (len(cur) >= batch_files or size + n > BATCH_BYTES):
            out.append(cur)
            cur, size = [], 0
        cur.append(f)
        size += n
    return [*out, cur] if cur else out


def _merge(summary: UploadSummary, batch: list[Path], result: UploadResult) -> None:
    by_name = {p.name: str(p) for p in batch}
    summary.accepted += len(result.accepted)
    summary.duplicates += len(result.duplicates)
    for r in result.rejected:
        name = str(r.get("filename", ""))
        summary.rejected.append({"file": by_name.get(name, name), "reason": str(r.get("reason"))})


def upload_files(
    client: Client,
    pool_id: int,
    paths: Sequence[str | Path],
    *,
    split: str | None = None,
    recursive: bool = False,
    workers: int = 4,
    batch_files: int = BATCH_FILES,
    on_start: Callable[[UploadSummary, int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> UploadSummary:
    """Upload what the pool lacks, ``batch_files`` files per request (at most 32 MiB) on
    ``workers`` parallel requests. ``on_start(summary, to_send)`` is called once the
    skipped files are known; ``on_progress(n)`` after each request with its file count.
    ``KeyboardInterrupt`` stops sending (requests in flight finish) and propagates."""
    t0 = time.perf_counter()
    files = collect(paths, recursive)
    summary = UploadSummary(files=len(files))
    with ThreadPoolExecutor(max(1, workers), "alp-upload") as pool:
        hashes = list(pool.map(sha256_file, files))
        known = client.known_hashes(pool_id, sorted(set(hashes)))
        todo = [f for f, h in zip(files, hashes, strict=True) if h not in known]
        summary.skipped = len(files) - len(todo)
        if on_start is not None:
            on_start(summary, len(todo))
        pending: dict[Future[UploadResult], list[Path]] = {}
        queue = _batches(todo, max(1, batch_files))
        try:
            while queue or pending:
                while queue and len(pending) < max(1, workers):
                    batch = queue.pop(0)
                    pending[pool.submit(client.upload, pool_id, batch, split)] = batch
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    batch = pending.pop(fut)
                    _merge(summary, batch, fut.result())
                    if on_progress is not None:
                        on_progress(len(batch))
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise
    summary.seconds = time.perf_counter() - t0
    return summary


def zip_directory(folder: Path) -> Path:
    """Every file under ``folder`` in a temporary zip (paths relative to it); the caller
    deletes the returned file. Images are stored, not recompressed."""
    fd, name = tempfile.mkstemp(prefix="alp-", suffix=".zip")
    tmp = Path(name)
    with open(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.rglob("*")):
            if f.is_file() and not f.name.startswith("."):
                kind = zipfile.ZIP_STORED if f.suffix.lower() in IMAGE_EXTS else None
                zf.write(f, f.relative_to(folder).as_posix(), kind)
    return tmp
