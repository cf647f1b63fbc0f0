"""Issue 20 item 4, against a REAL Label Studio server and a real io worker: deleting an
image (then its pool) leaves its Label Studio tasks in place, marked ``alp_deleted``,
and alp keeps no rows of it; syncs ignore the marked tasks."""

from __future__ import annotations

from typing import Any

import pytest
from label_studio_sdk import LabelStudio
from sqlalchemy import func, select

from alp.db import Annotation, Cycle, Image, Selection
from alp.labelstudio import mapping, sync
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
