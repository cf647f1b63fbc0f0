"""Uploaded JSON annotation files (COCO, Label Studio export): size limit and parsing."""

from __future__ import annotations

import json
from typing import Any, BinaryIO

from alp.errors import PayloadTooLarge, Unprocessable

MAX_JSON_BYTES = 256 * 1024 * 1024


def read_json(fh: BinaryIO, too_deep: str | None = None) -> Any:
    """The JSON value in ``fh`` (read from the start). 413 above :data:`MAX_JSON_BYTES`;
    422 when it is not JSON — with ``too_deep`` as the reason when it nests deeper than
    Python's recursion limit (else that counts as not JSON)."""
    fh.seek(0, 2)
    size = fh.tell()
    fh.seek(0)
    if size > MAX_JSON_BYTES:
        raise PayloadTooLarge(f"annotations file is {size} bytes, above {MAX_JSON_BYTES}")
    try:
        return json.load(fh)
    except RecursionError as exc:
        if too_deep is None:
            raise Unprocessable(f"annotations is not valid JSON ({exc})") from exc
        raise Unprocessable(too_deep) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unprocessable(f"annotations is not valid JSON ({exc})") from exc
