"""HTTP responses for blobs: stream from the store, or redirect to a presigned URL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from fastapi.responses import RedirectResponse, Response, StreamingResponse

from alp.errors import NotFound
from alp.storage import Storage
from alp.storage.base import CHUNK


def _chunks(fh: BinaryIO) -> Iterator[bytes]:
    try:
        while chunk := fh.read(CHUNK):
            yield chunk
    finally:
        fh.close()


def blob_response(
    storage: Storage,
    key: str,
    media_type: str,
    headers: dict[str, Any],
    missing: str,
    presign_ttl_s: int | None = None,
) -> Response:
    """The blob's bytes, streamed (``Content-Length`` set); or, when ``presign_ttl_s`` is
    given and the store signs URLs (S3), a 307 to a presigned URL valid that long.
    ``NotFound(missing)`` when the blob is absent (checked before any byte is sent)."""
    if presign_ttl_s:
        if not storage.exists(key):
            raise NotFound(missing)
        url = storage.presigned_url(key, presign_ttl_s, media_type)
        if url is not None:
            return RedirectResponse(url, status_code=307, headers=headers)
    try:
        fh, size = storage.open_sized(key)
    except FileNotFoundError:
        raise NotFound(missing) from None
    if size is not None:
        headers = {**headers, "Content-Length": str(size)}
    return StreamingResponse(_chunks(fh), media_type=media_type, headers=headers)
