"""Selection thumbnails (Pillow, boxes drawn, cached in storage) and the curve geometry."""

from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage

from alp.db import Image, Selection
from alp.errors import BadRequest
from alp.services import thumbnails
from alp.services.dashboard_views import CurvePoint
from alp.storage import LocalStorage, thumbnail_key
from api.dashboard import chart
from tests.e2e.dashboard_seed import seed_pool


def _is_red(px: tuple[int, ...]) -> bool:  # PALETTE[0] = #e6194b, JPEG-tolerant
    return px[0] > 150 and px[1] < 110


def test_render_scales_and_draws_boxes(tmp_path) -> None:
    src = tmp_path / "a.png"
    PILImage.new("RGB", (512, 256), "white").save(src)
    data = thumbnails.render(src, [[40, 40, 200, 200]], ["cat"], [0.9], 256, ["cat", "dog"])
    im = PILImage.open(io.BytesIO(data))
    assert (im.format, im.size) == ("JPEG", (256, 128))
    assert _is_red(im.getpixel((20, 60)))  # left edge of the box, scaled by 0.5
    assert _is_red(im.getpixel((100, 60)))  # right edge
    assert not _is_red(im.getpixel((60, 60)))  # inside stays white
    plain = PILImage.open(io.BytesIO(thumbnails.render(src, [], max_side=128)))
    assert plain.size == (128, 64)
    assert not any(_is_red(plain.getpixel((x, 30))) for x in range(0, 128, 4))


def test_render_rejects_a_non_image(tmp_path) -> None:
    bad = tmp_path / "x.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(BadRequest, match="cannot read image"):
        thumbnails.render(bad, [])


def test_label_colors_are_stable() -> None:
    assert thumbnails.label_color("dog", ["cat", "dog"]) == thumbnails.PALETTE[1]
    assert thumbnails.label_color("zebra") == thumbnails.label_color("zebra")


@pytest.fixture
def seeded(db, settings):
    storage = LocalStorage(settings.storage_dir)
    s = seed_pool(
        db,
        storage,
        "thumbs",
        n_images=2,
        finished=[{"labeled": 1, "map50": 0.1, "coco_ap": 0.05}],
        selection_size=1,
    )
    db.commit()
    return s, storage


def test_thumbnail_route_renders_once_then_serves_the_cache(client, db, seeded) -> None:
    s, storage = seeded
    sid = s.selection_ids[0]
    url = f"/api/v1/dashboard/selections/{sid}/thumbnail"
    r = client.get(url)
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/jpeg"
    im = PILImage.open(io.BytesIO(r.content))
    assert im.size == (96, 64)  # never upscaled
    assert _is_red(im.getpixel((10, 30)))  # the seeded "cat" box's left edge
    key = thumbnail_key(s.pool_id, s.image_ids[0], f"s{sid}-256")
    assert storage.exists(key)
    storage.delete(db.get(Image, s.image_ids[0]).storage_key)
    again = client.get(url)
    assert again.status_code == 200
    assert again.content == r.content  # served from the cache, source no longer needed


def test_thumbnail_errors_are_4xx_with_reason(client, db, seeded) -> None:
    s, storage = seeded
    assert client.get("/api/v1/dashboard/selections/999/thumbnail").json() == {
        "detail": "selection 999 not found"
    }
    sid = s.selection_ids[0]
    r = client.get(f"/api/v1/dashboard/selections/{sid}/thumbnail", params={"size": 100})
    assert r.status_code == 422  # refused by the documented enum of the query parameter
    assert "128, 256 or 512" in r.json()["detail"]
    storage.delete(db.get(Image, db.get(Selection, sid).image_id).storage_key)
    r = client.get(f"/api/v1/dashboard/selections/{sid}/thumbnail", params={"size": 128})
    assert r.status_code == 404
    assert "missing from storage" in r.json()["detail"]


def test_nice_ticks_cover_the_range() -> None:
    assert chart.nice_ticks(0, 0.45) == [0, 0.1, 0.2, 0.3, 0.4, 0.5]
    ticks = chart.nice_ticks(10, 1000)
    assert ticks[0] <= 10 and ticks[-1] >= 1000 and len(ticks) <= 7
    assert chart.nice_ticks(29, 31, integer=True) == [29, 30, 31]  # never half an image
    assert chart.nice_ticks(30, 47, integer=True) == [30, 35, 40, 45, 50]


@pytest.mark.parametrize("top", [0.012, 0.004, 0.45, 1.0, 3e-5])
def test_tick_labels_are_distinct_and_exact(top: float) -> None:
    """Issue 15: two-decimal rounding printed "0.01" three times on a low-AP axis."""
    ticks = chart.nice_ticks(0.0, top)
    labels = chart.tick_labels(ticks)
    assert len(set(labels)) == len(labels), labels
    assert [float(x) for x in labels] == pytest.approx(ticks, abs=1e-12)
    assert labels[0] == "0"
    assert chart.tick_labels([0.0, 0.0025, 0.005, 0.0075]) == ["0", "0.0025", "0.0050", "0.0075"]


def test_learning_curve_geometry() -> None:
    assert chart.learning_curve([]).empty
    pts = [
        CurvePoint(cycle_index=i, train_images=10 * (i + 1), map50=0.1 * (i + 1), coco_ap=None)
        for i in range(3)
    ]
    c = chart.learning_curve(pts, width=500, height=200)
    m50, cap = c.series
    assert not c.empty and cap.points == []
    xs = [x for x, _, _ in m50.points]
    ys = [y for _, y, _ in m50.points]
    assert xs == sorted(xs) and ys == sorted(ys, reverse=True)  # rising mAP goes up
    bottom = c.height - c.bottom
    assert c.y_ticks[0] == (pytest.approx(bottom), "0")
    assert all(c.left <= x <= c.width - c.right for x in xs)
    single = chart.learning_curve(
        [CurvePoint(cycle_index=0, train_images=5, map50=0.2, coco_ap=0.1)]
    )
    [(x, _, tip)] = single.series[0].points
    assert c.left < x < single.width - single.right
    assert tip == "cycle #0: 5 labeled training images, AP50 0.200"
    assert [label for _, label in single.x_ticks] == ["4", "5", "6"]  # whole images


def test_thumbnail_of_exif_rotated_image_is_upright(tmp_path) -> None:
    import io

    from PIL import Image

    from alp.services.thumbnails import render

    im = Image.new("RGB", (80, 40), "white")
    exif = Image.Exif()
    exif[0x0112] = 6
    src = tmp_path / "rot.jpg"
    im.save(src, "JPEG", exif=exif)
    out = Image.open(io.BytesIO(render(src, [], max_side=64)))
    assert out.height > out.width  # displayed upright: 40 wide, 80 tall


def test_large_upload_gets_a_preview_that_thumbnails_are_drawn_from(
    client, db, settings, monkeypatch
) -> None:
    from alp.db import Cycle
    from alp.services import decoding
    from tests.api.images_helpers import create_pool, stored_files, upload

    monkeypatch.setattr(decoding, "PREVIEW_MIN_PIXELS", 1000 * 1000)
    storage = LocalStorage(settings.storage_dir)
    pid = create_pool(client, "big", ("cat",))
    big, small = io.BytesIO(), io.BytesIO()
    PILImage.new("RGBA", (2048, 1024), "white").save(big, "PNG")
    PILImage.new("RGB", (900, 900), "white").save(small, "PNG")
    r = upload(client, pid, [("big.png", big.getvalue()), ("small.png", small.getvalue())])
    assert r.status_code == 201, r.text
    big_id, small_id = (a["image_id"] for a in r.json()["accepted"])
    preview = thumbnails.preview_key(pid, big_id)
    assert PILImage.open(storage.path(preview)).size == (512, 256)
    assert len(stored_files(settings)) == 3  # two images, one preview (small has none)
    cycle = Cycle(pool_id=pid, index=0, state="done")
    db.add(cycle)
    db.flush()
    box = {"boxes": [[400, 200, 1600, 800]], "labels": ["cat"], "scores": [0.9]}
    sel = Selection(cycle_id=cycle.id, image_id=big_id, rank=0, score=1.0, prediction=box)
    db.add(sel)
    db.commit()
    storage.delete(db.get(Image, big_id).storage_key)  # drawn from the preview alone
    r = client.get(f"/api/v1/dashboard/selections/{sel.id}/thumbnail", params={"size": 256})
    assert r.status_code == 200, r.text
    im = PILImage.open(io.BytesIO(r.content))
    assert im.size == (256, 128)
    assert _is_red(im.getpixel((50, 60)))  # left edge of the box: 400 px * 256/2048
    assert not _is_red(im.getpixel((120, 60)))  # inside stays white
    assert thumbnails.preview_key(pid, small_id) not in stored_files(settings)


def test_image_thumbnail_draws_the_stored_prediction(client, db, seeded, api_key) -> None:
    from alp.db import Prediction

    s, _storage = seeded
    iid = s.image_ids[1]  # not the seeded selection's image: any image can have one
    url = f"/api/v1/dashboard/images/{iid}/thumbnail"
    plain = PILImage.open(io.BytesIO(client.get(url).content))
    assert plain.size == (96, 64) and not _is_red(plain.getpixel((10, 30)))
    gal = client.get(f"/api/v1/dashboard/pools/{s.pool_id}/gallery").json()
    assert [i["has_prediction"] for i in gal["items"]] == [False]
    box = {"x1": 10.0, "y1": 8.0, "x2": 60.0, "y2": 50.0, "label": "cat", "score": 0.7}
    db.add(Prediction(image_id=iid, pool_id=s.pool_id, boxes=[box]))
    db.add(Prediction(image_id=s.image_ids[0], pool_id=s.pool_id, boxes=[]))
    db.commit()
    r = client.get(url)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    drawn = PILImage.open(io.BytesIO(r.content))
    assert _is_red(drawn.getpixel((10, 30))) and not _is_red(drawn.getpixel((35, 30)))
    pred = db.get(Prediction, iid)  # a newer prediction replaces the cached drawing
    pred.boxes = [{**box, "x1": 30.0}]
    pred.created_at = pred.created_at.replace(year=pred.created_at.year + 1)
    db.commit()
    moved = PILImage.open(io.BytesIO(client.get(url).content))
    assert _is_red(moved.getpixel((30, 30))) and not _is_red(moved.getpixel((10, 30)))
    assert client.get(url, params={"size": 100}).status_code == 422
    r = client.get("/api/v1/dashboard/images/999999/thumbnail")
    assert r.status_code == 404 and r.json() == {"detail": "image 999999 not found"}
    gal = client.get(f"/api/v1/dashboard/pools/{s.pool_id}/gallery").json()
    assert [i["has_prediction"] for i in gal["items"]] == [True]  # selected image 0
    assert client.post("/login", data={"api_key": api_key}).status_code == 200
    page = client.get(f"/pools/{s.pool_id}").text
    assert f'href="/api/v1/dashboard/images/{s.image_ids[0]}/thumbnail?size=512"' in page
