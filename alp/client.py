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

import random
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

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

API_PREFIX = "/api/v1"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
SAFE_RETRY_STATUSES = frozenset({429, 503})  # the server did not act on the request


class ApiError(Exception):
    """The server refused the request (4xx, or 5xx after every retry)."""

    def __init__(self, status: int, detail: str, body: Any = None) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status, self.detail, self.body = status, detail, body


def _detail(resp: httpx.Response) -> tuple[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:500] or resp.reason_phrase, None
    detail = body.get("detail") if isinstance(body, dict) else None
    return (detail if isinstance(detail, str) else str(detail or body)[:500]), body


class Client:
    """A session with one alp server. ``url`` is the server root (``/api/v1`` is added)."""

    def __init__(
        self, url: str, key: str, *, timeout: float = 120.0, retries: int = 5,
        backoff: float = 0.5, max_backoff: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:  # fmt: skip
        base = url.rstrip("/")
        base = base if base.endswith(API_PREFIX) else base + API_PREFIX
        self.base_url, self.retries, self.backoff, self.max_backoff = (
            base,
            retries,
            backoff,
            max_backoff,
        )
        self._sleep = sleep
        self.http = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {key}"},
            timeout=timeout, transport=transport,
        )  # fmt: skip

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    # -- transport -----------------------------------------------------------------------
    def _delay(self, attempt: int, resp: httpx.Response | None) -> float:
        after = resp.headers.get("retry-after", "") if resp is not None else ""
        if after.replace(".", "", 1).isdigit():
            return min(float(after), self.max_backoff)
        return min(self.max_backoff, self.backoff * 2**attempt) * random.uniform(0.5, 1.0)

    def request(
        self, method: str, path: str, *, ok: Sequence[int] = (200, 201, 202),
        files: Callable[[], Any] | None = None, once: bool = False, **kw: Any,
    ) -> httpx.Response:  # fmt: skip
        """Send with retries; ``files`` is a callable so each attempt gets fresh handles.
        ``once``: the request must not run twice (e.g. start a cycle), so it is retried
        only when it surely did not run: connect errors, 429 and 503.
        Returns the response when its status is in ``ok``, else raises :class:`ApiError`."""
        statuses = SAFE_RETRY_STATUSES if once else RETRY_STATUSES
        for attempt in range(self.retries + 1):
            resp: httpx.Response | None = None
            try:
                resp = self.http.request(method, path, files=files() if files else None, **kw)
            except httpx.TransportError as exc:
                unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if attempt == self.retries or (once and not unsent):
                    raise ApiError(0, f"cannot reach {self.base_url}: {exc}") from exc
            else:
                if resp.status_code in ok:
                    return resp
                if resp.status_code not in statuses or attempt == self.retries:
                    raise ApiError(resp.status_code, *_detail(resp))
            self._sleep(self._delay(attempt, resp))
        raise AssertionError("unreachable")  # pragma: no cover

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        return self.request(method, path, **kw).json()

    def paginate(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict]:
        """Items of a cursor-paginated listing (``items`` + ``next_cursor``), page by page."""
        params = dict(params or {})
        while True:
            page = self._json("GET", path, params=params)
            yield from page["items"]
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]

    def download(self, path: str, dest: str | Path, params: dict[str, Any] | None = None) -> Path:
        """Stream a response body to ``dest`` (written to ``dest.part``, then renamed)."""
        dest = Path(dest)
        part = dest.with_name(dest.name + ".part")
        for attempt in range(self.retries + 1):
            try:
                with self.http.stream("GET", path, params=params) as resp:
                    if resp.status_code == 200:
                        with part.open("wb") as fh:
                            for chunk in resp.iter_bytes(1 << 20):
                                fh.write(chunk)
                        part.replace(dest)
                        return dest
                    resp.read()
                    if resp.status_code not in RETRY_STATUSES or attempt == self.retries:
                        raise ApiError(resp.status_code, *_detail(resp))
                    last: httpx.Response | None = resp
            except httpx.TransportError as exc:
                part.unlink(missing_ok=True)
                if attempt == self.retries:
                    raise ApiError(0, f"download from {self.base_url} failed: {exc}") from exc
                last = None
            self._sleep(self._delay(attempt, last))
        raise AssertionError("unreachable")  # pragma: no cover

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
            raise ApiError(resp.status_code, *_detail(resp))
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
