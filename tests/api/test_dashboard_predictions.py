"""The pool page's predictions gallery: every image with a stored prediction (selected or
not), newest first, paged, each drawn by the image thumbnail route; the "Predict unlabeled
images" button appears only with a trained model and for roles that may request it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alp.db import Cycle, Prediction, utcnow
from alp.errors import BadRequest, NotFound
from alp.services import dashboard_predictions, keys
from alp.storage import LocalStorage
from tests.e2e.dashboard_seed import seed_pool

BOX = {"x1": 10.0, "y1": 8.0, "x2": 60.0, "y2": 50.0, "label": "cat", "score": 0.7}


def test_gallery_lists_predicted_images_newest_first(db, settings) -> None:
    storage = LocalStorage(settings.storage_dir)
    s = seed_pool(db, storage, "preds", n_images=5, finished=[{"labeled": 1, "map50": 0.1,
                  "coco_ap": 0.05}], selection_size=1)  # fmt: skip
    db.commit()
    assert dashboard_predictions.predictions_gallery(db, s.pool_id).total == 0
    now = utcnow()
    for n, iid in enumerate(s.image_ids[1:4]):  # none of them is in the selection
        boxes = [BOX, {**BOX, "label": "dog", "score": 0.9}, {**BOX, "score": 0.2}][: n + 1]
        db.add(Prediction(image_id=iid, pool_id=s.pool_id, cycle_id=s.cycle_ids[0],
                          boxes=boxes, created_at=now + timedelta(seconds=n)))  # fmt: skip
    db.commit()
    gal = dashboard_predictions.predictions_gallery(db, s.pool_id, per_page=2)
    assert (gal.total, gal.pages) == (3, 2)
    assert [i.image_id for i in gal.items] == [s.image_ids[3], s.image_ids[2]]
    first = gal.items[0]
    assert first.n_boxes == 3 and first.labels == {"cat": 2, "dog": 1}
    assert first.top_score == 0.9 and first.cycle_index == 0
    last = dashboard_predictions.predictions_gallery(db, s.pool_id, page=2, per_page=2)
    assert [i.image_id for i in last.items] == [s.image_ids[1]]
    with pytest.raises(BadRequest):
        dashboard_predictions.predictions_gallery(db, s.pool_id, page=0)
    with pytest.raises(NotFound):
        dashboard_predictions.predictions_gallery(db, 999_999)


def test_pool_page_draws_predictions_of_any_image(client, db, settings) -> None:
    storage = LocalStorage(settings.storage_dir)
    s = seed_pool(db, storage, "page", n_images=3, finished=[{"labeled": 1, "map50": 0.1,
                  "coco_ap": 0.05}], selection_size=1)  # fmt: skip
    viewer = keys.create_key(db, "viewer", role="viewer").key
    db.commit()
    admin_key = client.headers["Authorization"].split()[1]
    assert client.post("/login", data={"api_key": admin_key}).status_code == 200
    page = client.get(f"/pools/{s.pool_id}").text
    assert "No stored predictions yet: they need a trained model" in page
    assert 'id="predict-unlabeled"' not in page

    cycle = db.get(Cycle, s.cycle_ids[0])
    cycle.checkpoint_key = f"pools/{s.pool_id}/checkpoints/cycle-{cycle.id}.pt"
    db.add(Prediction(image_id=s.image_ids[2], pool_id=s.pool_id, cycle_id=cycle.id,
                      boxes=[BOX]))  # fmt: skip
    db.commit()
    page = client.get(f"/pools/{s.pool_id}").text
    thumb = f'src="/api/v1/dashboard/images/{s.image_ids[2]}/thumbnail?size=256"'
    assert f'data-predicted="{s.image_ids[2]}"' in page and thumb in page
    assert "Predictions (1 images)" in page and 'id="predict-unlabeled"' in page
    assert client.get(f"/pools/{s.pool_id}", params={"pred_page": 0}).status_code == 422

    client.post("/logout")
    assert client.post("/login", data={"api_key": viewer}).status_code == 200
    page = client.get(f"/pools/{s.pool_id}").text
    assert thumb in page and 'id="predict-unlabeled"' not in page  # viewers only look
