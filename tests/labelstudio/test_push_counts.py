"""Push records pre-drawn boxes per task and says when none were drawn (both databases;
a fake Label Studio client, the real server is in ``test_server_roundtrip.py``)."""

from __future__ import annotations

from typing import Any

from alp.db import Cycle, Image, LabelStudioConnection, Pool, Selection
from alp.labelstudio import connect, push


class FakeLabelStudio:
    def __init__(self) -> None:
        self.imported: list[dict[str, Any]] = []
        self.project: dict[str, Any] = {}

    def iter_tasks(self, *_: Any, **__: Any) -> list[dict[str, Any]]:
        return []

    def import_tasks(self, _pid: int, tasks: list[dict[str, Any]]) -> list[int]:
        self.imported += tasks
        return list(range(len(self.imported) - len(tasks) + 1, len(self.imported) + 1))

    def update_project(self, _pid: int, **fields: Any) -> None:
        self.project.update(fields)


def _cycle(db, predictions: list[dict[str, Any]]) -> int:
    pool = Pool(name="push", classes=["cat"], settings={})
    db.add(pool)
    db.flush()
    cycle = Cycle(pool_id=pool.id, index=3, state="labeling", config={})
    db.add(cycle)
    db.flush()
    for rank, pred in enumerate(predictions):
        img = Image(pool_id=pool.id, sha256=f"{rank:064d}", storage_key="k", filename="a.png",
                    content_type="image/png", size_bytes=1, width=10, height=10,
                    state="queued")  # fmt: skip
        db.add(img)
        db.flush()
        db.add(Selection(cycle_id=cycle.id, image_id=img.id, rank=rank, score=1.0,
                         prediction=pred))  # fmt: skip
    db.add(LabelStudioConnection(pool_id=pool.id, url="http://ls", token="t", project_id=1))
    db.commit()
    return cycle.id


def test_counts_and_an_issue_when_no_task_got_a_box(sessions, settings) -> None:
    ls = FakeLabelStudio()
    empty = {"boxes": [], "labels": [], "scores": []}  # a model ran and found nothing
    with sessions() as db:
        cycle_id = _cycle(db, [empty, empty])
        push.push_cycle(db, settings, cycle_id, client_factory=lambda *_: ls)  # type: ignore[arg-type]
        db.commit()
        cycle = db.get(Cycle, cycle_id)
        assert cycle is not None
        (issue,) = cycle.issues
        assert "none of the 2 task(s)" in issue["message"]
        assert "preannotation_min_score (0.05)" in issue["message"]
        st = connect.status(db, cycle.pool_id)
        assert (st.tasks_pushed, st.boxes_predrawn, st.tasks_without_boxes) == (2, 0, 2)
    assert [t["data"]["alp_cycle"] for t in ls.imported] == [3, 3]
    assert [t["data"]["alp_rank"] for t in ls.imported] == [1, 2]
    assert ls.project["sampling"] == "Sequential sampling"
    assert ls.project["model_version"] == "alp-cycle-3"


def test_boxes_are_counted_per_task_and_no_issue(sessions, settings) -> None:
    ls = FakeLabelStudio()
    two = {"boxes": [[1, 1, 5, 5], [2, 2, 8, 8]], "labels": [0, 0], "scores": [0.9, 0.1]}
    with sessions() as db:
        cycle_id = _cycle(db, [two, {}])  # {}: no model (e.g. a random first cycle)
        push.push_cycle(db, settings, cycle_id, client_factory=lambda *_: ls)  # type: ignore[arg-type]
        db.commit()
        cycle = db.get(Cycle, cycle_id)
        assert cycle is not None and cycle.issues == []
        rows = db.query(Selection.rank, Selection.ls_boxes).filter_by(cycle_id=cycle_id)
        assert sorted(rows) == [(0, 2), (1, 0)]
        st = connect.status(db, cycle.pool_id)
        assert (st.boxes_predrawn, st.tasks_without_boxes, st.tasks_remaining) == (2, 1, 2)
