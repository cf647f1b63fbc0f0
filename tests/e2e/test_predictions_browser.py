"""The pool page's predictions gallery in headless Chromium against a real alp API
process: stored predictions of images outside the selection are drawn on their
thumbnails, and "Predict unlabeled images" queues a ``predict`` job from the page."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image as PILImage
from sqlalchemy import select

from alp.db import Cycle, Job, Prediction
from alp.storage import checkpoint_key
from tests.e2e.dashboard_server import Server
from tests.e2e.test_dashboard_browser import (  # noqa: F401 (fixtures)
    browser,
    expect,
    page,
    seed,
    server,
    shot,
    sign_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]
BOX = {"x1": 10.0, "y1": 8.0, "x2": 60.0, "y2": 50.0, "label": "cat", "score": 0.7}


def test_predictions_of_any_image_are_drawn_and_can_be_requested(page, server: Server  # noqa: F811
                                                                 ) -> None:  # fmt: skip
    s = seed(server, "predicted-pool", n_images=6, selection_size=1)
    outside = s.image_ids[4:]  # images the selection does not show
    with server.sessions() as db:
        cycle = db.get(Cycle, s.cycle_ids[-1])
        cycle.checkpoint_key = checkpoint_key(s.pool_id, cycle.id)
        server.storage.put_bytes(cycle.checkpoint_key, b"a model")
        for iid in outside:
            db.add(Prediction(image_id=iid, pool_id=s.pool_id, cycle_id=cycle.id, boxes=[BOX]))
        db.commit()
    sign_in(page, server, f"/pools/{s.pool_id}")
    section = page.locator("#live-predictions")
    expect(section.get_by_role("heading")).to_have_text("Predictions (2 images)")
    shots = section.locator(".gallery img")
    expect(shots).to_have_count(2)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#live-predictions .gallery img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    expect(shots.first).to_have_attribute("alt", re.compile("with 1 predicted box$"))
    src = shots.first.get_attribute("src")
    assert src == f"/api/v1/dashboard/images/{outside[-1]}/thumbnail?size=256"
    im = PILImage.open(io.BytesIO(page.request.get(src).body())).convert("RGB")
    px = im.getpixel((10, 30))  # left edge of the predicted "cat" box
    assert px[0] > 150 and px[1] < 110, px
    expect(section).to_contain_text("cycle #")
    shot(page, "pool-predictions.png")

    page.get_by_role("button", name="Predict unlabeled images").click()
    expect(page.locator("#flash")).to_contain_text("Predictions requested")
    with server.sessions() as db:
        job = db.scalars(select(Job).where(Job.kind == "predict", Job.pool_id == s.pool_id)).one()
        assert job.payload["cycle_id"] == s.cycle_ids[-1] and job.payload["image_ids"]
