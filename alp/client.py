"""Python client of the alp REST API (``httpx``; never imports torch).

    from alp.client import Client
    with Client("http://127.0.0.1:8000", "alp_...") as c:
        pool = c.create_pool("street", ["car", "bus"])
        summary = c.upload_files(pool.id, ["imgs/"])          # skips what the pool holds
        for img in c.iter_images(pool.id, state="labeled"):   # follows the cursor
            ...
        c.export(pool.id, "yolo", "street-yolo.zip")           # streamed to disk

Contracts: every call retries with exponential back-off (jittered, ``Retry-After`` honoured)
on connection errors, 5xx and 429, up to ``retries`` times, then raises (calls that must
not run twice — create a pool, start a cycle — only when the server surely did not act);
any other 4xx raises :class:`ApiError` at once with the server's ``detail``. Results are
typed pydantic models that ignore fields they do not know, so newer servers keep working.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from alp.client_http import ApiError, HttpSession, error_detail
from alp.client_models import (
    BatchItem,
    Cycle,
    CycleStarted,
    Image,
    ImportResult,
    Job,
    NextBatch,
    Pool,
    UploadResult,
)
from alp.client_transfer import UploadSummary, upload_files, zip_directory

__all__ = [
    "ApiError",
    "BatchItem",
    "Client",
    "Cycle",
    "CycleStarted",
    "Image",
    "ImportResult",
    "Job",
    "NextBatch",
    "Pool",
    "UploadResult",
    "UploadSummary",
]  # fmt: skip


class Client(HttpSession):
    """A session with one alp server. ``url`` is the server root (``/api/v1`` is added);
    transport, retries and back-off: :class:`alp.client_http.HttpSession`."""

    # -- pools ---------------------------------------------------------------------------
    def pools(self) -> list[Pool]:
        return [Pool.model_validate(p) for p in self._json("GET", "/pools")]

    def pool(self, pool_id: int) -> Pool:
        return Pool.model_validate(self._json("GET", f"/pools/{pool_id}"))

    def create_pool(
        self, name: str, classes: Sequence[str], settings: dict[str, Any] | None = None
    ) -> Pool:
        body = {"name": name, "classes": list(classes), "settings": settings or {}}
        return Pool.model_validate(self._json("POST", "/pools", json=body, once=True))

    def find_pool(self, ref: str | int) -> Pool:
        """A pool by id (digits) or exact name; :class:`ApiError` 404 when there is none."""
        if isinstance(ref, int) or str(ref).isdigit():
            return self.pool(int(ref))
        found = [p for p in self.pools() if p.name == ref]
        if len(found) != 1:
            raise ApiError(
                404, f"no pool named {ref!r}" if not found else f"several pools named {ref!r}"
            )
        return found[0]

    # -- images --------------------------------------------------------------------------
    def iter_images(
        self, pool_id: int, *, state: str | None = None, split: str | None = None,
        page_size: int = 500,
    ) -> Iterator[Image]:  # fmt: skip
        params = {k: v for k, v in (("state", state), ("split", split)) if v is not None}
        for item in self.paginate(f"/pools/{pool_id}/images", {**params, "limit": page_size}):
            yield Image.model_validate(item)

    def known_hashes(self, pool_id: int, hashes: Sequence[str]) -> dict[str, int]:
        """``{sha256: image_id}`` of the given digests the pool already holds."""
        out: dict[str, int] = {}
        for start in range(0, len(hashes), 10_000):
            body = {"sha256": list(hashes[start : start + 10_000])}
            out.update(self._json("POST", f"/pools/{pool_id}/images/lookup", json=body)["known"])
        return out

    def upload(
        self, pool_id: int, paths: Sequence[str | Path], split: str | None = None
    ) -> UploadResult:
        """One multipart request with these files (images or zips); per-file outcome. An
        all-rejected request (413/422 with per-file reasons) is returned, not raised."""

        def files() -> list[tuple[str, tuple[str, bytes]]]:
            return [("files", (Path(p).name, Path(p).read_bytes())) for p in paths]

        data = {"split": split} if split else None
        resp = self.request("POST", f"/pools/{pool_id}/images", ok=(200, 201, 413, 422),
                            files=files, data=data)  # fmt: skip
        body = resp.json()
        if resp.status_code >= 400 and "rejected" not in body:
            raise ApiError(resp.status_code, *error_detail(resp))
        return UploadResult.model_validate(body)

    def upload_files(self, pool_id: int, paths: Sequence[str | Path], **kw: Any) -> UploadSummary:
        """Upload files and folders in parallel, skipping content the pool already has; see
        :func:`alp.client_transfer.upload_files` for the options."""
        return upload_files(self, pool_id, paths, **kw)

    def image_content(self, image_id: int, dest: str | Path) -> Path:
        return self.download(f"/images/{image_id}/content", dest)

    # -- formats -------------------------------------------------------------------------
    def import_labels(
        self, pool_id: int, fmt: str, path: str | Path, *, images: str | Path | None = None,
        add_classes: bool = False, strict: bool = True,
    ) -> ImportResult:  # fmt: skip
        """Import ``coco``/``labelstudio`` (a JSON file, ``images`` an optional zip or folder)
        or ``yolo``/``voc`` (a zip or a folder of labels, optionally with the images)."""
        path = Path(path)
        with _as_zip(images) as archive, _as_zip(path if fmt in ("yolo", "voc") else None) as z:

            def files() -> list[tuple[str, tuple[str, bytes]]]:
                out = []
                if fmt in ("coco", "labelstudio"):
                    out.append(("annotations", (path.name, path.read_bytes())))
                for zp in (archive, z):
                    if zp is not None:
                        out.append(("archive", (zp.name, zp.read_bytes())))
                return out

            params = {"add_classes": str(add_classes).lower(), "strict": str(strict).lower()}
            body = self._json("POST", f"/pools/{pool_id}/import/{fmt}", files=files, params=params)
        return ImportResult.model_validate(body)

    def export(
        self, pool_id: int, fmt: str, dest: str | Path, *, split: str | None = None,
        images: bool = True,
    ) -> Path:  # fmt: skip
        """Download ``coco``/``labelstudio`` JSON or a ``yolo``/``voc`` zip to ``dest``."""
        params: dict[str, Any] = {"split": split} if split else {}
        if fmt in ("yolo", "voc"):
            params["images"] = str(images).lower()
        return self.download(f"/pools/{pool_id}/export/{fmt}", dest, params)

    # -- cycles --------------------------------------------------------------------------
    def start_cycle(self, pool_id: int) -> CycleStarted:
        body = self._json("POST", f"/pools/{pool_id}/cycles", once=True)
        return CycleStarted.model_validate(body)

    def cycles(self, pool_id: int) -> list[Cycle]:
        return [Cycle.model_validate(c) for c in self._json("GET", f"/pools/{pool_id}/cycles")]

    def cycle(self, cycle_id: int) -> Cycle:
        return Cycle.model_validate(self._json("GET", f"/cycles/{cycle_id}"))

    def job(self, job_id: int) -> Job:
        return Job.model_validate(self._json("GET", f"/jobs/{job_id}"))

    def next_batch(self, pool_id: int, limit: int = 20) -> NextBatch:
        body = self._json("GET", f"/pools/{pool_id}/next-batch", params={"limit": limit})
        return NextBatch.model_validate(body)


class _as_zip:
    """A zip path for a file (as is) or a folder (zipped to a temporary file)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path, self.tmp = (Path(path) if path is not None else None), None

    def __enter__(self) -> Path | None:
        if self.path is not None and self.path.is_dir():
            self.tmp = zip_directory(self.path)
            return self.tmp
        return self.path

    def __exit__(self, *exc: object) -> None:
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)
