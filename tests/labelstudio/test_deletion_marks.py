"""Issue 20 item 4, against a REAL Label Studio server and a real io worker: deleting an
image (then its pool) leaves its Label Studio tasks in place, marked ``alp_deleted``,
and alp keeps no rows of it; syncs ignore the marked tasks."""

from __future__ import annotations

from typing import Any

import pytest
from label_studio_sdk import LabelStudio
from sqlalchemy import func, select

from alp import jobs, outbox
from alp.db import Annotation, Cycle, Image, LabelStudioConnection, Pool, Selection
from alp.labelstudio import mapping, sync
from alp.services import deletion
from tests.labelstudio.conftest import Stack
from tests.labelstudio.test_server_roundtrip import CLASSES, connect, pred, project_tasks
from tests.support import labelstudio as ls
from tests.support.processes import wait_for

pytestmark = pytest.mark.labelstudio


def _task(sdk: LabelStudio, task_id: int) -> dict[str, Any]:
    return sdk.tasks.get(id=str(task_id)).model_dump(mode="json")


def _marked(sdk: LabelStudio, task_id: int) -> dict[str, Any] | None:
    task = _task(sdk, task_id)
    return task if (task.get("meta") or {}).get(mapping.DELETED_KEY) else None


def _rows(stack: Stack, image_id: int) -> int:
    with stack.db() as db:
        return sum(
            db.scalar(select(func.count()).select_from(t).where(t.image_id == image_id)) or 0
            for t in (Selection, Annotation)
        ) + (1 if db.get(Image, image_id) else 0)


def test_deleted_image_and_pool_tasks_are_marked(
    stack: Stack, ls_server: ls.LabelStudioServer
) -> None:
    pool_id, (x, y) = stack.create_pool("del-marks", CLASSES, 2)
    project_id = connect(stack, pool_id, ls_server, ls_server.token)["project_id"]
    sdk = LabelStudio(base_url=ls_server.url, api_key=ls_server.token)
    cycle_id = stack.enter_labeling(pool_id, {x: pred((1, 2, 30, 40, 0, 0.9)), y: pred()})
    tasks = wait_for(lambda: (t := project_tasks(sdk, project_id)) and len(t) == 2 and t,
                     timeout=60, what="2 tasks")  # fmt: skip
    ids = {t["data"]["alp_image_id"]: t["id"] for t in tasks}
    before = _task(sdk, ids[x])["data"]
    assert stack.api.delete(f"/api/v1/images/{x}").status_code == 409  # labeling: active
    with stack.db() as db:
        db.get(Cycle, cycle_id).state = "done"  # type: ignore[union-attr]
        db.commit()

    assert stack.api.delete(f"/api/v1/images/{x}").status_code == 204
    task = wait_for(lambda: _marked(sdk, ids[x]), timeout=60, what="task of x marked")
    assert task["data"][mapping.DELETED_KEY] is True
    assert {k: v for k, v in task["data"].items() if not k.startswith("alp_deleted")} == before
    assert _rows(stack, x) == 0
    assert _marked(sdk, ids[y]) is None  # the other image's task is untouched
    with stack.db() as db:  # a full sync ignores the marked task and keeps y
        result = sync.sync_pool(db, pool_id, full=True)
        db.commit()
        assert result is not None
        assert db.get(Image, y) is not None and db.get(Image, x) is None

    assert stack.api.delete(f"/api/v1/pools/{pool_id}").status_code == 204
    wait_for(lambda: _marked(sdk, ids[y]), timeout=60, what="task of y marked (pool deleted)")
    assert _rows(stack, y) == 0
    assert len(project_tasks(sdk, project_id)) == 2  # tasks stay in Label Studio


def test_task_image_id_ignores_marked_tasks() -> None:
    data = {mapping.IMAGE_ID_KEY: 7}
    assert mapping.task_image_id({"data": data}) == 7
    assert mapping.task_image_id({"data": {**data, mapping.DELETED_KEY: True}}) is None


def test_task_ids_are_captured_before_the_rows_go(db) -> None:
    """Both databases: the job gets the image's task ids (every image's for the pool) and
    the connection, read before the cascade; the token never shows in a repr."""
    pool = Pool(name="marks", classes=["cat"], settings={})
    db.add(pool)
    db.flush()
    db.add(LabelStudioConnection(pool_id=pool.id, url="http://ls", token="s3cr3t", project_id=4))
    cycles = [Cycle(pool_id=pool.id, index=i, state="done", config={}) for i in (0, 1)]
    db.add_all(cycles)
    db.flush()
    imgs = [Image(pool_id=pool.id, sha256=f"{i:064d}", storage_key=f"k{i}", filename="a.png",
                  content_type="image/png", size_bytes=1, width=10, height=10,
                  state="queued") for i in (0, 1)]  # fmt: skip
    db.add_all(imgs)
    db.flush()
    for cycle, img, task in ((cycles[0], imgs[0], 11), (cycles[1], imgs[0], 12),
                             (cycles[1], imgs[1], 13)):  # fmt: skip
        db.add(Selection(cycle_id=cycle.id, image_id=img.id, rank=0, score=1.0,
                         prediction={}, ls_task_id=task))  # fmt: skip
    db.commit()

    deletion.delete_image(db, imgs[0].id)
    marks = [a for n, a, _ in outbox.pending(db) if n == jobs.LS_MARK_DELETED]
    assert marks == [("http://ls", "s3cr3t", 4, [11, 12])]
    assert "s3cr3t" not in repr(marks)
    db.commit()
    deletion.delete_pool(db, pool.id)
    marks = [a for n, a, _ in outbox.pending(db) if n == jobs.LS_MARK_DELETED]
    assert marks == [("http://ls", "s3cr3t", 4, [13])]
    db.commit()
    assert db.scalar(select(func.count()).select_from(Selection)) == 0
