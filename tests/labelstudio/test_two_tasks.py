"""Issue 15, finding 4, against a REAL Label Studio server: an image whose annotation was
deleted goes back to the pool, is selected again and gets a second task; annotating
either task must never erase the other's annotations."""

from __future__ import annotations

import pytest
from label_studio_sdk import LabelStudio
from sqlalchemy import select

from alp.db import Cycle, LabelStudioConnection
from alp.labelstudio import sync
from tests.labelstudio.conftest import Stack
from tests.labelstudio.test_server_roundtrip import (
    CLASSES,
    boxes_of,
    connect,
    images,
    pred,
    project_tasks,
    region,
)
from tests.support import labelstudio as ls
from tests.support.processes import wait_for

pytestmark = pytest.mark.labelstudio


def test_two_tasks_of_one_image_never_erase_each_other(
    stack: Stack, ls_server: ls.LabelStudioServer
) -> None:
    pool_id, (x, y, _) = stack.create_pool("two-tasks", CLASSES, 3)  # 1 left: auto-advance
    project_id = connect(stack, pool_id, ls_server, ls_server.token)["project_id"]
    sdk = LabelStudio(base_url=ls_server.url, api_key=ls_server.token)
    stack.enter_labeling(pool_id, {x: pred((1, 2, 30, 40, 0, 0.9)), y: pred()})
    tasks = wait_for(lambda: (t := project_tasks(sdk, project_id)) and len(t) == 2 and t,
                     timeout=60, what="2 tasks")  # fmt: skip
    first = {t["data"]["alp_image_id"]: t["id"] for t in tasks}
    with ls_server.http() as c:
        a1 = c.post(f"/api/tasks/{first[x]}/annotations/",
                    json={"result": [region(10, 20, 50, 25, "dog")]}).json()  # fmt: skip
        c.post(f"/api/tasks/{first[y]}/annotations/",
               json={"result": [region(0, 0, 50, 50, "cat")]}).raise_for_status()  # fmt: skip
    wait_for(lambda: {i.state for i in images(stack, [x, y]).values()} == {"labeled"},
             timeout=60, what="cycle 0 annotated")  # fmt: skip

    def next_cycle() -> int | None:
        with stack.db() as db:
            q = select(Cycle.id).where(Cycle.pool_id == pool_id, Cycle.index == 1)
            return db.scalar(q)

    next_id = wait_for(next_cycle, timeout=60, what="the next cycle (auto-advance)")

    # 1. the annotation is deleted in Label Studio: the image goes back to the pool
    with ls_server.http() as c:
        c.delete(f"/api/annotations/{a1['id']}/").raise_for_status()
    wait_for(lambda: images(stack, [x])[x].state == "unlabeled", timeout=60, what="delete")
    assert boxes_of(stack, x) == []
    # 2. selected again in a later cycle: a second task of the same image
    stack.enter_labeling(pool_id, {x: pred((5, 5, 20, 20, 1, 0.6))}, cycle_id=next_id)
    tasks = wait_for(lambda: (t := project_tasks(sdk, project_id)) and len(t) == 3 and t,
                     timeout=60, what="the second task of the image")  # fmt: skip
    (second,) = [t for t in tasks if t["data"]["alp_image_id"] == x and t["id"] != first[x]]
    assert second["data"]["alp_cycle"] == 1
    # 3. the annotator labels the OLD task
    with ls_server.http() as c:
        a2 = c.post(f"/api/tasks/{first[x]}/annotations/",
                    json={"result": [region(0, 0, 50, 50, "cat")]}).json()  # fmt: skip
    wait_for(lambda: images(stack, [x])[x].state == "labeled", timeout=60, what="old task sync")
    assert boxes_of(stack, x) == [[0.0, 0.0, 32.0, 24.0, "cat"]]
    with stack.db() as db:
        assert db.get(Cycle, next_id).state == "done"  # type: ignore[union-attr]
    # 4. a forced full sync (API), then one run here to read its counts: nothing deleted
    before = stack.api.get(f"/api/v1/pools/{pool_id}/labelstudio").json()["last_sync_at"]
    assert stack.api.post(f"/api/v1/pools/{pool_id}/labelstudio/sync").status_code == 202
    wait_for(lambda: stack.api.get(f"/api/v1/pools/{pool_id}/labelstudio").json()
             ["last_sync_at"] != before, timeout=60, what="forced sync")  # fmt: skip
    assert boxes_of(stack, x) == [[0.0, 0.0, 32.0, 24.0, "cat"]]
    with stack.db() as db:
        result = sync.sync_pool(db, pool_id, full=True)
        db.commit()
    assert (
        result is not None and result.deleted == 0 and (result.stored, result.tasks_seen) == (2, 3)
    )
    assert images(stack, [x])[x].state == "labeled"
    # 5. both tasks annotated: both kept; deleting one keeps the other
    with ls_server.http() as c:
        c.post(f"/api/tasks/{second['id']}/annotations/",
               json={"result": [region(50, 50, 25, 25, "dog")]}).raise_for_status()  # fmt: skip
    both = [[0.0, 0.0, 32.0, 24.0, "cat"], [32.0, 24.0, 48.0, 36.0, "dog"]]
    wait_for(lambda: sorted(boxes_of(stack, x)) == both, timeout=60, what="second task sync")
    with ls_server.http() as c:
        c.delete(f"/api/annotations/{a2['id']}/").raise_for_status()
    wait_for(lambda: boxes_of(stack, x) == both[1:], timeout=60, what="old annotation deleted")
    assert images(stack, [x])[x].state == "labeled"
    with stack.db() as db:
        assert db.get(LabelStudioConnection, pool_id).last_error is None  # type: ignore[union-attr]
