"""Log lines on demand as JSON (``ALP_LOG_FORMAT=json``), with the ids of the work at hand.

Contract: with ``json`` every record the API or a worker logs through the standard
``logging`` module is written as ONE JSON object per line with ``ts`` (UTC, ISO 8601),
``level``, ``logger``, ``message``, ``exc`` (a formatted traceback, when there is one), and
whichever of ``cycle_id``, ``job_id``, ``pool_id``, ``shard_id``, ``task``, ``task_id``,
``request_id`` are known: bound for the current context with :func:`bind` (the worker binds
them at task start, the API per request) or passed as ``extra={...}``. With ``text``
(default) nothing here changes the log setup.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

IDS = ("cycle_id", "job_id", "pool_id", "shard_id", "task", "task_id", "request_id")
_ids: ContextVar[dict[str, Any]] = ContextVar("alp_log_ids", default={})  # noqa: B039 (never mutated)
THIRD_PARTY = ("uvicorn", "uvicorn.error", "uvicorn.access", "celery", "celery.task")


def bind(**ids: Any) -> Token[dict[str, Any]]:
    """Add ``ids`` (None values ignored) to the current context; undo with :func:`unbind`."""
    merged = {**_ids.get(), **{k: v for k, v in ids.items() if v is not None}}
    return _ids.set(merged)


def unbind(token: Token[dict[str, Any]]) -> None:
    _ids.reset(token)


@contextmanager
def bound(**ids: Any) -> Iterator[None]:
    token = bind(**ids)
    try:
        yield
    finally:
        unbind(token)


def current_ids() -> dict[str, Any]:
    return dict(_ids.get())


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module doc); never raises on odd values."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update(_ids.get())
        for key in IDS:
            value = record.__dict__.get(key)
            if value is not None:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, default=str, ensure_ascii=False)


def use_json(logger: logging.Logger) -> None:
    """Give every handler of ``logger`` the JSON formatter."""
    for handler in logger.handlers:
        handler.setFormatter(JsonFormatter())


def configure(log_format: str, level: int | None = None) -> None:
    """Apply ``ALP_LOG_FORMAT``: for ``json``, every handler of the root logger (a stderr
    handler is added when it has none) and of uvicorn's and Celery's own loggers formats
    with :class:`JsonFormatter`; the root level becomes ``level`` (INFO when unset and
    still at Python's default). ``text`` leaves logging alone."""
    if log_format != "json":
        return
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    if level is not None:
        root.setLevel(level)
    elif root.level == logging.WARNING or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    use_json(root)
    for name in THIRD_PARTY:
        use_json(logging.getLogger(name))
