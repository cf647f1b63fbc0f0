"""Queries over long id/value lists: ``IN (...)`` in bounded chunks.

A single ``IN`` with tens of thousands of values hits driver/database limits (SQLite's
bound-parameter cap, PostgreSQL's 65535 parameters per statement) and plans badly, so every
such query runs once per chunk of at most ``size`` values and the rows are concatenated.
Each chunk is a separate statement: an ``ORDER BY`` orders rows within a chunk only (rows of
one value are never split across chunks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Executable, Row
from sqlalchemy.orm import Session

T = TypeVar("T")
IN_CHUNK = 500


def chunked(values: Iterable[T], size: int = IN_CHUNK) -> Iterator[list[T]]:
    """``values`` in consecutive lists of at most ``size`` (none for no values)."""
    if size < 1:
        raise ValueError(f"chunk size must be positive, got {size}")
    items = values if isinstance(values, Sequence) else list(values)
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def execute_in(
    db: Session,
    values: Iterable[T],
    build: Callable[[list[T]], Executable],
    size: int = IN_CHUNK,
) -> Iterator[Row[Any]]:
    """The rows of ``build(chunk)`` (a statement with ``col.in_(chunk)``) for every chunk
    of ``values``, chunk after chunk."""
    for chunk in chunked(values, size):
        yield from db.execute(build(chunk))


def scalars_in(
    db: Session,
    values: Iterable[T],
    build: Callable[[list[T]], Executable],
    size: int = IN_CHUNK,
) -> Iterator[Any]:
    """Like :func:`execute_in`, the first column of each row (ORM entities for
    ``select(Entity)``)."""
    for chunk in chunked(values, size):
        yield from db.scalars(build(chunk))
