"""Against a REAL Label Studio server: connect, push, annotate, webhook/reconcile, retrain."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from label_studio_sdk import LabelStudio
from sqlalchemy import select

from alp import jobs
from alp.db import Annotation, Cycle, Image, Selection
from tests.labelstudio.conftest import Stack
from tests.support import labelstudio as ls
from tests.support.processes import wait_for

pytestmark = pytest.mark.labelstudio
CLASSES = ["cat", "dog"]
W, H = 64, 48


def pred(*boxes: tuple[float, float, float, float, int, float]) -> dict[str, Any]:
    return {"boxes": [list(b[:4]) for b in boxes], "labels": [b[4] for b in boxes],
            "scores": [b[5] for b in boxes]}  # fmt: skip


def region(x: float, y: float, w: float, h: float, label: str, rid: str = "r1") -> dict:
    """A rectangle as Label Studio's editor submits it (percent of the image)."""
    return {"id": rid, "from_name": "label", "to_name": "image", "type": "rectanglelabels",
            "original_width": W, "original_height": H, "image_rotation": 0,
            "value": {"x": x, "y": y, "width": w, "height": h, "rotation": 0,
                      "rectanglelabels": [label]}}  # fmt: skip


def connect(stack: Stack, pool_id: int, server: ls.LabelStudioServer, token: str) -> dict:
    resp = stack.api.post(f"/api/v1/pools/{pool_id}/labelstudio",
                          json={"url": server.url, "token": token})  # fmt: skip
    assert resp.status_code == 201, resp.text
    assert token not in resp.text
    return resp.json()


def project_tasks(sdk: LabelStudio, project_id: int) -> list[dict[str, Any]]:
    return [t.model_dump(mode="json") for t in sdk.tasks.list(project=project_id, fields="all")]


def images(stack: Stack, ids: list[int]) -> dict[int, Image]:
    with stack.db() as db:
        return {i.id: i for i in db.scalars(select(Image).where(Image.id.in_(ids)))}


def boxes_of(stack: Stack, image_id: int) -> list[list[Any]]:
    with stack.db() as db:
        rows = db.scalars(select(Annotation).where(Annotation.image_id == image_id,
                                                   Annotation.source == "labelstudio"))  # fmt: skip
        return [[round(b[k], 3) for k in ("x1", "y1", "x2", "y2")] + [b["label"]]
                for r in rows for b in r.boxes]  # fmt: skip


def test_push_annotate_webhook_next_cycle(stack: Stack, ls_server: ls.LabelStudioServer) -> None:
    pool_id, ids = stack.create_pool("roundtrip", CLASSES, 4)
    status = connect(stack, pool_id, ls_server, ls_server.token)
    assert status["webhook_registered"] and status["tasks_pushed"] == 0
    project_id = status["project_id"]
    preds = {ids[0]: pred((1, 2, 30, 40, 0, 0.9), (10, 10, 20, 20, 1, 0.4)),
             ids[1]: pred((5, 5, 60, 45, 1, 0.7)), ids[2]: pred()}  # fmt: skip
    cycle_id = stack.enter_labeling(pool_id, preds)

    sdk = LabelStudio(base_url=ls_server.url, api_key=ls_server.token)
    tasks = wait_for(lambda: (t := project_tasks(sdk, project_id)) and len(t) == 3 and t,
                     timeout=60, what="3 tasks in Label Studio")  # fmt: skip
    by_image = {t["data"]["alp_image_id"]: t for t in tasks}
    assert set(by_image) == set(preds)
    first = by_image[ids[0]]
    (p,) = first["predictions"]
    assert p["model_version"] == "alp-cycle-0"
    assert [r["score"] for r in p["result"]] == [0.9, 0.4]
    v = p["result"][0]["value"]
    assert (v["x"], v["y"], v["width"], v["height"]) == pytest.approx(
        (100 / W, 200 / H, 2900 / W, 3800 / H)
    )
    assert v["rectanglelabels"] == ["cat"] and p["result"][0]["original_width"] == W
    assert by_image[ids[2]]["predictions"][0]["result"] == []
    task_ids = [by_image[i]["id"] for i in preds]  # rank order = import order
    assert task_ids == sorted(task_ids)  # "Sequential sampling" serves the best rank first
    assert [by_image[i]["data"]["alp_rank"] for i in preds] == [1, 2, 3]
    assert all(by_image[i]["data"]["alp_cycle"] == 0 for i in preds)
    assert all(by_image[i]["predictions"][0]["score"] is None for i in preds)  # no fake %
    project = sdk.projects.get(id=project_id)
    assert project.model_version == "alp-cycle-0"
    assert project.sampling == "Sequential sampling"
    image_resp = httpx.get(
        first["data"]["image"], timeout=10, headers={"Origin": ls_server.url}
    )  # the annotator's browser
    assert image_resp.status_code == 200 and image_resp.headers["content-type"] == "image/png"
    assert image_resp.headers["access-control-allow-origin"] == ls_server.url
    st = stack.api.get(f"/api/v1/pools/{pool_id}/labelstudio").json()
    assert (st["boxes_predrawn"], st["tasks_without_boxes"], st["tasks_remaining"]) == (3, 1, 3)

    with ls_server.http() as c:  # annotate as an annotator would (webhooks fire)
        for image_id, body in (
            (ids[0], {"result": [region(10, 20, 50, 25, "dog")]}),
            (ids[1], {"result": [region(0, 0, 100, 100, "cat"), region(1, 1, 2, 2, "cow", "r2")]}),
            (ids[2], {"result": [], "was_cancelled": True}),
        ):
            resp = c.post(f"/api/tasks/{by_image[image_id]['id']}/annotations/", json=body)
            assert resp.status_code == 201, resp.text

    def all_done() -> bool:
        imgs = images(stack, ids[:3])
        return [imgs[i].state for i in ids[:3]] == ["labeled", "labeled", "skipped"]

    wait_for(all_done, timeout=60, what="webhook-driven sync")
    assert boxes_of(stack, ids[0]) == [[6.4, 9.6, 38.4, 21.6, "dog"]]
    assert boxes_of(stack, ids[1]) == [[0.0, 0.0, 64.0, 48.0, "cat"]]
    with stack.db() as db:
        cycle0 = db.get(Cycle, cycle_id)
        assert cycle0 is not None and cycle0.state == "done"
        assert any("unknown label 'cow'" in i["message"] for i in cycle0.issues)
        nxt = db.scalar(select(Cycle).where(Cycle.pool_id == pool_id, Cycle.index == 1))
        assert nxt is not None and nxt.state in ("pending", "training")  # next cycle started
        next_id = nxt.id
    st = stack.api.get(f"/api/v1/pools/{pool_id}/labelstudio").json()
    assert (st["tasks_pushed"], st["tasks_annotated"], st["tasks_skipped"]) == (3, 2, 1)
    assert st["tasks_remaining"] == 0
    assert st["last_sync_at"] is not None and st["state"] == "connected"

    # The next cycle (training stubbed) pushes its own selection as new tasks.
    stack.enter_labeling(pool_id, {ids[3]: pred((2, 2, 8, 8, 1, 0.5))}, cycle_id=next_id)
    tasks = wait_for(lambda: (t := project_tasks(sdk, project_id)) and len(t) == 4 and t,
                     timeout=60, what="the next cycle's task")  # fmt: skip
    new = next(t for t in tasks if t["data"]["alp_image_id"] == ids[3])
    assert new["predictions"][0]["model_version"] == "alp-cycle-1"
    assert sdk.projects.get(id=project_id).model_version == "alp-cycle-1"


def test_reconcile_without_webhook_with_personal_token(
    stack: Stack, ls_server: ls.LabelStudioServer
) -> None:
    pool_id, ids = stack.create_pool("reconcile", CLASSES, 3)
    pat = ls_server.create_personal_access_token()
    status = connect(stack, pool_id, ls_server, pat)
    project_id = status["project_id"]
    sdk = LabelStudio(base_url=ls_server.url, api_key=pat)  # JWT path of the SDK
    for hook in sdk.webhooks.list(project=project_id):  # the webhook is "lost"
        sdk.webhooks.delete(id=hook.id)
    stack.enter_labeling(pool_id, {ids[0]: pred((1, 1, 9, 9, 0, 0.8)), ids[1]: pred()})
    tasks = wait_for(lambda: (t := project_tasks(sdk, project_id)) and len(t) == 2 and t,
                     timeout=60, what="2 tasks")  # fmt: skip
    by_image = {t["data"]["alp_image_id"]: t["id"] for t in tasks}
    with ls_server.http() as c:
        a0 = c.post(f"/api/tasks/{by_image[ids[0]]}/annotations/",
                    json={"result": [region(50, 50, 25, 25, "cat")]}).json()  # fmt: skip
        c.post(f"/api/tasks/{by_image[ids[1]]}/annotations/",
               json={"result": [region(0, 0, 50, 50, "dog")]}).raise_for_status()  # fmt: skip

    def reconcile_until(check: Any, what: str) -> None:
        stack.celery.send_task(jobs.LS_RECONCILE, queue="io")
        wait_for(check, timeout=60, what=what)

    reconcile_until(lambda: boxes_of(stack, ids[1]) == [[0.0, 0.0, 32.0, 24.0, "dog"]],
                    "reconciliation ingests")  # fmt: skip
    assert boxes_of(stack, ids[0]) == [[32.0, 24.0, 48.0, 36.0, "cat"]]
    # An update replaces the annotation; a delete makes the image unlabeled (queued) again.
    with ls_server.http() as c:
        c.patch(f"/api/annotations/{a0['id']}/",
                json={"result": [region(0, 0, 25, 50, "dog")]}).raise_for_status()  # fmt: skip
    reconcile_until(lambda: boxes_of(stack, ids[0]) == [[0.0, 0.0, 16.0, 24.0, "dog"]], "update")
    with ls_server.http() as c:
        c.delete(f"/api/annotations/{a0['id']}/").raise_for_status()
    reconcile_until(lambda: images(stack, [ids[0]])[ids[0]].state != "labeled", "delete")
    assert images(stack, [ids[0]])[ids[0]].state in ("queued", "unlabeled")
    assert boxes_of(stack, ids[0]) == []
    with stack.db() as db:
        n_ann = db.scalar(select(Annotation.id).where(Annotation.image_id == ids[1]))
        assert n_ann is not None  # the other image is untouched


def test_connect_errors(stack: Stack, ls_server: ls.LabelStudioServer) -> None:
    pool_id, _ = stack.create_pool("errors", CLASSES, 1)
    url = f"/api/v1/pools/{pool_id}/labelstudio"
    bad = stack.api.post(url, json={"url": ls_server.url, "token": "wrong-token-123"})
    assert bad.status_code == 400 and "token" in bad.json()["detail"]
    assert "wrong-token-123" not in bad.text
    expired_jwt = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCIsImV4cCI6"
                   "MTAwMCwidXNlcl9pZCI6IjEifQ.c2lnbmF0dXJl")  # fmt: skip
    assert stack.api.post(url, json={"url": ls_server.url, "token": expired_jwt}).status_code == 400
    down = stack.api.post(url, json={"url": f"http://127.0.0.1:{ls.free_port()}", "token": "x"})
    assert down.status_code == 502 and "reach" in down.json()["detail"]
    missing = stack.api.post(url, json={"url": ls_server.url, "token": ls_server.token,
                                        "project_id": 999999})  # fmt: skip
    assert missing.status_code == 422 and "999999" in missing.json()["detail"]
    assert stack.api.get(url).status_code == 404  # nothing stored by failed attempts
    ok = connect(stack, pool_id, ls_server, ls_server.token)
    hook = {"action": "ANNOTATION_CREATED", "project": {"id": ok["project_id"]}}
    wh = f"/api/v1/webhooks/label-studio?pool_id={pool_id}"
    assert httpx.post(stack.settings.public_base_url + wh, json=hook).status_code == 401
    assert (
        httpx.post(stack.settings.public_base_url + wh, json=hook,
                   headers={"X-Alp-Webhook-Secret": "nope"}).status_code == 401
    )  # fmt: skip
    with stack.db() as db:
        assert db.scalar(select(Selection.id)) is None
