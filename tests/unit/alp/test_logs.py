"""``alp.logs``: the JSON formatter writes one object per record with the bound ids,
ids passed as ``extra`` and the traceback; :func:`alp.logs.configure` only acts for json."""

from __future__ import annotations

import json
import logging
import sys

from alp import logs


def test_json_formatter_extra_ids_and_exceptions() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "failed %d", (3,), sys.exc_info(),
            extra={"job_id": 5},
        )  # fmt: skip
    with logs.bound(cycle_id=2, pool_id=None):
        line = json.loads(logs.JsonFormatter().format(record))
    assert line["message"] == "failed 3" and line["job_id"] == 5 and line["cycle_id"] == 2
    assert "pool_id" not in line and "ValueError: boom" in line["exc"]


def test_text_format_leaves_logging_alone() -> None:
    root = logging.getLogger()
    before = [(h, h.formatter) for h in root.handlers]
    logs.configure("text")
    assert [(h, h.formatter) for h in root.handlers] == before
