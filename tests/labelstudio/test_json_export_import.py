"""A JSON export made by the REAL Label Studio server imports (``POST
/pools/{id}/import/labelstudio``) with exactly the boxes alp's live sync stored."""

from __future__ import annotations

import json

import pytest
from label_studio_sdk import LabelStudio
from sqlalchemy import select

from alp.db import Annotation
from tests.labelstudio.conftest import Stack
from tests.labelstudio.test_server_roundtrip import (
    CLASSES,
    connect,
    images,
    pred,
    project_tasks,
    region,
)
from tests.support import labelstudio as ls
from tests.support.processes import wait_for

pytestmark = pytest.mark.labelstudio


def _boxes(stack: Stack, image_id: int, source: str) -> list[tuple]:
    with stack.db() as db:
        rows = db.scalars(select(Annotation).where(Annotation.image_id == image_id,
                                                   Annotation.source == source))  # fmt: skip
        return sorted((round(b["x1"], 6), round(b["y1"], 6), round(b["x2"], 6),
                       round(b["y2"], 6), b["label"]) for r in rows for b in r.boxes)  # fmt: skip


def test_labelstudio_export_imports_like_the_sync(
    stack: Stack, ls_server: ls.LabelStudioServer
) -> None:
    pool_id, ids = stack.create_pool("lsjson", CLASSES, 3)
    project_id = connect(stack, pool_id, ls_server, ls_server.token)["project_id"]
    stack.enter_labeling(pool_id, {ids[0]: pred((1, 2, 30, 40, 0, 0.9)), ids[1]: pred()})
    sdk = LabelStudio(base_url=ls_server.url, api_key=ls_server.token)
    tasks = wait_for(lambda: (t := project_tasks(sdk, project_id)) and len(t) == 2 and t,
                     timeout=60, what="2 tasks in Label Studio")  # fmt: skip
    by_image = {t["data"]["alp_image_id"]: t for t in tasks}
    with ls_server.http() as c:
        for image_id, result in (
            (ids[0], [region(10, 20, 50, 25, "dog"), region(3.3, 4.4, 20.1, 30.7, "cat", "r2")]),
            (ids[1], [region(0, 0, 100, 100, "cat")]),
        ):
            resp = c.post(f"/api/tasks/{by_image[image_id]['id']}/annotations/",
                          json={"result": result})  # fmt: skip
            assert resp.status_code == 201, resp.text
        wait_for(lambda: {i.state for i in images(stack, ids[:2]).values()} == {"labeled"},
                 timeout=60, what="webhook-driven sync")  # fmt: skip
        export = c.get(f"/api/projects/{project_id}/export", params={"exportType": "JSON"})
        assert export.status_code == 200, export.text
    exported = export.json()
    assert len(exported) == 2 and all(t["annotations"] for t in exported)

    resp = stack.api.post(
        f"/api/v1/pools/{pool_id}/import/labelstudio",
        files=[("annotations", ("export.json", json.dumps(exported).encode(), "application/json"))],
    )
    assert resp.status_code == 200, resp.text
    assert (resp.json()["images_labeled"], resp.json()["annotations"]) == (2, 3)
    for image_id in ids[:2]:
        synced = _boxes(stack, image_id, "labelstudio")
        assert synced and _boxes(stack, image_id, "import") == synced
