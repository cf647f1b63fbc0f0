"""Image ingestion: validate uploaded files and zip members, dedupe, store, insert in bulk.

Three phases per request: (1) validate every file (nothing written; a whole archive can
still be dropped), (2) insert all new rows with one ``INSERT .. ON CONFLICT DO NOTHING
RETURNING`` (race-free dedupe by ``(pool_id, sha256)``; duplicates inside the request are
collapsed first), (3) write the files of the rows actually inserted through
:class:`~alp.services.uploads.StagedFiles`, which deletes them if the commit never happens.

Concurrent uploads of overlapping images: rows are inserted in SHA-256 order and retried on
deadlock (:mod:`alp.services.image_rows`). A file (and an image's preview) is written only
after its row is inserted, and deleted on failure while the transaction still holds that
row's lock, so no other request can insert the same image in between: no orphan file, no
row without its file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO

from sqlalchemy.orm import Session

from alp.config import Settings
from alp.schemas_images import AcceptedFile, DuplicateFile, RejectedFile, UploadResult
from alp.services import decoding, thumbnails, zips
from alp.services.image_rows import existing_ids, insert_new_rows
from alp.services.uploads import ImageInfo, Rejected, StagedFiles, check_size, probe_image
from alp.services.uploads import safe_filename as _safe_filename
from alp.storage import image_key

# Validated bytes kept in memory per request; beyond this, files are re-read when stored.
MEMORY_BUDGET = 64 * 1024 * 1024
# Preview JPEGs kept per request until stored; beyond this, thumbnails make them on first use.
PREVIEW_BUDGET = 16 * 1024 * 1024
PENDING_BYTES = 32 * 1024 * 1024  # bytes queued for validation before waiting on them
WORKERS = max(1, min(4, os.cpu_count() or 1))  # Pillow and hashlib release the GIL


@dataclass
class _Candidate:
    label: str  # name reported back to the client
    filename: str  # stored base name
    sha: str
    info: ImageInfo
    size: int
    data: bytes | None
    reread: Callable[[], bytes]


@dataclass
class _Pending:
    label: str
    filename: str
    data: bytes
    reread: Callable[[], bytes]
    outcome: Future[tuple[ImageInfo, str]] | Rejected


def _check(data: bytes, max_pixels: int, pool: decoding.DecodeBudget) -> tuple[ImageInfo, str]:
    """Validate one image (with its preview) and hash it (runs on a worker thread)."""
    return probe_image(data, max_pixels, pool, previews=True), hashlib.sha256(data).hexdigest()


@dataclass
class _Collector:
    """Phase 1: validated candidates, in-request duplicates and rejections, in input order.

    Images are validated on ``executor`` threads; ``flush`` collects the results in order.
    """

    settings: Settings
    executor: Executor
    candidates: list[_Candidate] = field(default_factory=list)
    dupes: list[tuple[str, str]] = field(default_factory=list)  # (label, sha)
    rejected: list[tuple[str, Rejected]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    pending: list[_Pending] = field(default_factory=list)
    pending_bytes: int = 0
    kept_bytes: int = 0
    preview_bytes: int = 0

    def add_file(self, name: str | None, fh: BinaryIO, index: int, stack: ExitStack) -> None:
        label = _safe_filename(name, f"file-{index + 1}")
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(0)
        head = fh.read(8)
        fh.seek(0)
        if zips.looks_like_zip(head) or label.lower().endswith(".zip"):
            self.add_zip(label, fh, size, stack)
            return
        try:
            check_size(size, self.settings.max_upload_bytes)
        except Rejected as exc:
            self.reject(label, exc)
            return
        self.add_image(label, label, fh.read(), lambda: _read_all(fh))

    def reject(self, label: str, exc: Rejected) -> None:
        self.pending.append(_Pending(label, "", b"", bytes, exc))

    def add_image(
        self, label: str, filename: str, data: bytes, reread: Callable[[], bytes]
    ) -> None:
        pool = decoding.budget(self.settings.decode_memory_bytes)
        fut = self.executor.submit(_check, data, self.settings.max_image_pixels, pool)
        self.pending.append(_Pending(label, filename, data, reread, fut))
        self.pending_bytes += len(data)
        if self.pending_bytes > PENDING_BYTES:
            self.flush()

    def flush(self) -> None:
        """Collect the pending validations in order: candidate, duplicate or rejection."""
        for p in self.pending:
            try:
                if isinstance(p.outcome, Rejected):
                    raise p.outcome
                info, sha = p.outcome.result()
            except Rejected as exc:
                self.rejected.append((p.label, exc))
                continue
            if sha in self.seen:
                self.dupes.append((p.label, sha))
                continue
            self.seen.add(sha)
            if info.preview is not None:
                if self.preview_bytes + len(info.preview) > PREVIEW_BUDGET:
                    info = replace(info, preview=None)
                else:
                    self.preview_bytes += len(info.preview)
            keep = self.kept_bytes + len(p.data) <= MEMORY_BUDGET
            self.kept_bytes += len(p.data) if keep else 0
            self.candidates.append(_Candidate(
                p.label, p.filename, sha, info, len(p.data), p.data if keep else None, p.reread
            ))  # fmt: skip
        self.pending.clear()
        self.pending_bytes = 0

    def add_zip(self, label: str, fh: BinaryIO, size: int, stack: ExitStack) -> None:
        s = self.settings
        self.flush()
        marks = (len(self.candidates), len(self.dupes), len(self.rejected), self.kept_bytes)
        try:
            check_size(size, s.max_zip_bytes, "archive")
            zf, members = zips.open_zip(
                fh, max_total_bytes=s.max_zip_bytes, max_members=s.max_zip_members
            )
            stack.enter_context(zf)
            for m in members:
                member_label = f"{label}/{m.path}"
                try:
                    data = zips.read_member(zf, m, s.max_upload_bytes)
                except zips.ArchiveRejected:
                    raise
                except Rejected as exc:
                    self.reject(member_label, exc)
                    continue
                reread = _member_reader(zf, m, s.max_upload_bytes)
                self.add_image(member_label, _safe_filename(m.name, m.path), data, reread)
            self.flush()
        except Rejected as exc:  # the whole archive: forget what it contributed
            self.pending.clear()
            self.pending_bytes = 0
            for c in self.candidates[marks[0] :]:
                self.seen.discard(c.sha)
            del self.candidates[marks[0] :], self.dupes[marks[1] :], self.rejected[marks[2] :]
            self.kept_bytes = marks[3]
            self.rejected.append((label, exc))


def _read_all(fh: BinaryIO) -> bytes:
    fh.seek(0)
    return fh.read()


def _member_reader(zf: Any, m: zips.Member, limit: int) -> Callable[[], bytes]:
    return lambda: zips.read_member(zf, m, limit)


def ingest_uploads(
    db: Session,
    settings: Settings,
    pool_id: int,
    files: Sequence[tuple[str | None, BinaryIO]],
    staged: StagedFiles,
    split: str | None = None,
) -> UploadResult:
    """Validate, dedupe and store ``files`` (images or zips) into pool ``pool_id``.

    ``files`` are ``(client file name, seekable binary file)``. Rejected files leave no row
    and no file. Flushes, never commits; the caller commits inside ``staged``.
    """
    with ExitStack() as stack:
        executor = stack.enter_context(ThreadPoolExecutor(WORKERS, "alp-ingest"))
        col = _Collector(settings, executor)
        for i, (name, fh) in enumerate(files):
            col.add_file(name, fh, i, stack)
        col.flush()
        return _store(db, pool_id, col, staged, split or "train")


def _write_files(
    items: list[tuple[str, _Candidate]], previews: list[tuple[str, bytes]],
    staged: StagedFiles,
) -> None:  # fmt: skip
    """Write candidates' bytes and previews (in-memory ones concurrently); waits for all
    before raising."""
    blobs = [(key, c.data) for key, c in items if c.data is not None] + previews
    staged.put_all(blobs, [(key, c.reread) for key, c in items if c.data is None])


def _store(
    db: Session, pool_id: int, col: _Collector, staged: StagedFiles, split: str
) -> UploadResult:
    rows = [
        {
            "pool_id": pool_id,
            "sha256": c.sha,
            "storage_key": image_key(pool_id, c.sha, c.info.ext),
            "filename": c.filename,
            "content_type": c.info.content_type,
            "size_bytes": c.size,
            "width": c.info.width,
            "height": c.info.height,
            "state": "unlabeled",
            "split": split,
        }
        for c in col.candidates
    ]
    inserted = insert_new_rows(db, rows)
    ids = dict(inserted)
    ids.update(existing_ids(db, pool_id, [c.sha for c in col.candidates if c.sha not in ids]))
    result = UploadResult()
    new = [
        (r["storage_key"], c)
        for c, r in zip(col.candidates, rows, strict=True)
        if c.sha in inserted
    ]
    previews = [
        (thumbnails.preview_key(pool_id, inserted[c.sha]), c.info.preview)
        for _, c in new
        if c.info.preview is not None
    ]
    _write_files(new, previews, staged)
    for c in col.candidates:
        if c.sha in inserted:
            accepted = AcceptedFile(
                filename=c.label,
                image_id=ids[c.sha],
                sha256=c.sha,
                width=c.info.width,
                height=c.info.height,
            )
            result.accepted.append(accepted)
        else:
            result.duplicates.append(DuplicateFile(filename=c.label, image_id=ids[c.sha]))
    result.duplicates += [DuplicateFile(filename=lb, image_id=ids[sha]) for lb, sha in col.dupes]
    result.rejected = [RejectedFile(filename=lb, reason=r.reason) for lb, r in col.rejected]
    result._statuses = [r.status for _, r in col.rejected]
    db.flush()
    return result
