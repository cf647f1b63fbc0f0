"""Sync merges annotations over ALL tasks of an image (both databases; a fake Label Studio
client stands in for the server here, ``test_two_tasks.py`` replays it against a real one)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from alp.db import Annotation, Cycle, Image, LabelStudioConnection, Pool, Selection
from alp.labelstudio import sync

W, H = 100, 50


class FakeLabelStudio:
    """Answers ``iter_tasks``: changed tasks (any filter but the image one) or all tasks
    of one image (the ``data.alp_image_id`` filter)."""

    def __init__(self) -> None:
        self.tasks: dict[int, dict[str, Any]] = {}
        self.changed: list[int] = []
        self.image_reads = 0

    def iter_tasks(self, project_id: int, filters=(), **_: Any):
        flt = list(filters)
        if flt and flt[0]["filter"] == "filter:tasks:data.alp_image_id":
            self.image_reads += 1
            return [t for t in self.tasks.values() if t["data"]["alp_image_id"] == flt[0]["value"]]
        return [self.tasks[i] for i in self.changed] if flt else list(self.tasks.values())


def _ann(ann_id: int, label: str = "cat") -> dict[str, Any]:
    region = {"id": "r", "type": "rectanglelabels", "value": {"x": 10, "y": 10, "width": 20,
              "height": 20, "rotation": 0, "rectanglelabels": [label]}}  # fmt: skip
    return {"id": ann_id, "result": [region], "was_cancelled": False}


def _setup(db) -> tuple[int, int, int]:
    pool = Pool(name="merge", classes=["cat", "dog"], settings={})
    db.add(pool)
    db.flush()
    img = Image(pool_id=pool.id, sha256="b" * 64, storage_key="k", filename="x.png",
                content_type="image/png", size_bytes=1, width=W, height=H,
                state="queued")  # fmt: skip
    # left unlabeled: auto-advance has something to select
    other = Image(pool_id=pool.id, sha256="c" * 64, storage_key="k2", filename="y.png",
                  content_type="image/png", size_bytes=1, width=W, height=H)  # fmt: skip
    db.add_all([img, other])
    db.flush()
    old = Cycle(pool_id=pool.id, index=0, state="done", config={})
    new = Cycle(pool_id=pool.id, index=1, state="labeling", config={})
    db.add_all([old, new])
    db.flush()
    db.add_all([Selection(cycle_id=old.id, image_id=img.id, rank=0, score=1.0, ls_task_id=1),
                Selection(cycle_id=new.id, image_id=img.id, rank=0, score=1.0, ls_task_id=2),
                ])  # fmt: skip
    db.add(LabelStudioConnection(pool_id=pool.id, url="http://ls", token="t", project_id=7))
    db.commit()
    return pool.id, img.id, new.id


def test_two_tasks_of_one_image_keep_each_others_annotations(sessions) -> None:
    ls = FakeLabelStudio()
    with sessions() as db:
        pool_id, image_id, new_cycle = _setup(db)
    ls.tasks = {1: {"id": 1, "data": {"alp_image_id": image_id, "alp_cycle": 0},
                    "annotations": [_ann(11)]},
                2: {"id": 2, "data": {"alp_image_id": image_id, "alp_cycle": 1},
                    "annotations": []}}  # fmt: skip

    def run(**kw: Any) -> sync.SyncResult:
        with sessions() as db:
            res = sync.sync_pool(db, pool_id, client_factory=lambda *_: ls, **kw)  # type: ignore[arg-type]
            db.commit()
        assert res is not None
        return res

    def stored() -> list[str]:
        with sessions() as db:
            q = select(Annotation.external_id).where(Annotation.image_id == image_id)
            return sorted(db.scalars(q))

    full = run(full=True)
    assert (full.stored, full.deleted, full.tasks_seen) == (1, 0, 2) and stored() == ["11"]
    with sessions() as db:
        assert db.get(Image, image_id).state == "labeled"  # type: ignore[union-attr]
        assert db.get(Cycle, new_cycle).state == "done"  # type: ignore[union-attr]
    ls.changed = [2]  # only the new, empty task changed: it must not erase annotation 11
    assert run().deleted == 0 and stored() == ["11"]
    ls.tasks[2]["annotations"] = [_ann(12, "dog")]
    assert run().stored == 2 and stored() == ["11", "12"]
    ls.tasks[1]["annotations"] = []  # deleted in Label Studio: gone from alp, 12 stays
    ls.changed = [1]
    assert run().deleted == 1 and stored() == ["12"]
    with sessions() as db:
        outcomes = db.scalars(select(Selection.ls_outcome).where(Selection.image_id == image_id))
        assert set(outcomes) == {"annotated"}
    assert ls.image_reads == 4  # one extra read per synced image with two tasks
