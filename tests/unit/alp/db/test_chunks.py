"""``alp.db.chunks``: IN (...) queries over more values than one chunk holds."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, event, select
from sqlalchemy.orm import Session

from alp.db.chunks import chunked, execute_in, scalars_in

META = MetaData()
ITEMS = Table("items", META, Column("id", Integer, primary_key=True), Column("name", String))


@pytest.fixture
def db() -> Session:
    engine = create_engine("sqlite://")
    META.create_all(engine)
    with engine.begin() as conn:
        conn.execute(ITEMS.insert(), [{"id": i, "name": f"n{i}"} for i in range(1, 1301)])
    with Session(engine) as session:
        yield session


def test_chunked_splits_in_order() -> None:
    assert list(chunked(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(chunked([], 3)) == []
    assert list(chunked((i for i in range(4)), 2)) == [[0, 1], [2, 3]]  # any iterable
    with pytest.raises(ValueError):
        list(chunked([1], 0))


def test_execute_in_runs_one_statement_per_chunk(db: Session) -> None:
    statements: list[str] = []
    event.listen(db.get_bind(), "before_cursor_execute", lambda *a: statements.append(a[2]))
    wanted = [*range(1, 1301), 5000, 5001]  # 1302 values, two not in the table
    rows = list(
        execute_in(
            db,
            wanted,
            lambda ids: select(ITEMS.c.id, ITEMS.c.name).where(ITEMS.c.id.in_(ids)),
            size=500,
        )
    )
    assert sorted(r.id for r in rows) == list(range(1, 1301))
    assert {r.name for r in rows} == {f"n{i}" for i in range(1, 1301)}
    assert len([s for s in statements if "FROM items" in s]) == 3  # 500 + 500 + 302


def test_scalars_in_default_chunk_and_empty_input(db: Session) -> None:
    ids = list(range(1, 1301))
    got = list(scalars_in(db, ids, lambda c: select(ITEMS.c.id).where(ITEMS.c.id.in_(c))))
    assert sorted(got) == ids
    assert list(scalars_in(db, [], lambda c: select(ITEMS.c.id).where(ITEMS.c.id.in_(c)))) == []
