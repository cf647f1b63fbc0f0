"""COCO import (uploaded images or a zip; categories, bounds, all-or-nothing) and export."""

from __future__ import annotations

import json

from tests.api.images_helpers import (
    all_images,
    create_pool,
    image_bytes,
    stored_files,
    upload,
    zip_bytes,
)

CATS = [{"id": 7, "name": "bus"}, {"id": 3, "name": "car"}]


def _coco(images: list[dict], annotations: list[dict], categories=CATS) -> bytes:
    return json.dumps(
        {"images": images, "annotations": annotations, "categories": categories}
    ).encode()


def _import(client, pid: int, coco: bytes, archive: bytes | None = None, **params: str):
    files = [("annotations", ("coco.json", coco, "application/json"))]
    if archive is not None:
        files.append(("archive", ("imgs.zip", archive, "application/zip")))
    return client.post(f"/api/v1/pools/{pid}/import/coco", files=files, params=params)


def test_import_uploaded_images_then_export_round_trip(client) -> None:
    pid = create_pool(client)
    r = upload(client, pid, [("a.jpg", image_bytes(w=64, h=48, seed=1)),
                             ("b.png", image_bytes("PNG", seed=2))])  # fmt: skip
    ids = {a["filename"]: a["image_id"] for a in r.json()["accepted"]}
    coco = _coco(
        [{"id": 1, "file_name": "train/a.jpg", "width": 64, "height": 48},
         {"id": 2, "file_name": "b.png"}],
        [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 2, 10, 20]},
         {"id": 2, "image_id": 1, "category_id": 7, "bbox": [30, 5, 34, 43]},
         {"id": 3, "image_id": 1, "category_id": 7, "bbox": [0, 0, 5, 5], "iscrowd": 1}],
    )  # fmt: skip
    r = _import(client, pid, coco)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["images_labeled"], body["annotations"], body["skipped_crowd"]) == (2, 2, 1)
    assert body["problems"] == [] and body["classes_added"] == []
    a = client.get(f"/api/v1/images/{ids['a.jpg']}").json()
    assert a["state"] == "labeled" and a["annotation_source"] == "import"
    assert [(b["x1"], b["y1"], b["x2"], b["y2"], b["label"]) for b in a["boxes"]] == [
        (1, 2, 11, 22, "car"), (30, 5, 64, 48, "bus"),
    ]  # fmt: skip
    b = client.get(f"/api/v1/images/{ids['b.png']}").json()
    assert (b["state"], b["boxes"]) == ("labeled", [])
    again = _import(client, pid, coco)  # re-import replaces, does not add
    assert again.status_code == 200

    exp = client.get(f"/api/v1/pools/{pid}/export/coco")
    assert exp.status_code == 200
    out = exp.json()
    assert out["categories"] == [
        {"id": 1, "name": "car", "supercategory": ""},
        {"id": 2, "name": "bus", "supercategory": ""},
    ]
    assert [(i["id"], i["file_name"], i["alp_image_id"]) for i in out["images"]] == [
        (1, "a.jpg", ids["a.jpg"]), (2, "b.png", ids["b.png"]),
    ]  # fmt: skip
    assert [(x["id"], x["image_id"], x["category_id"], x["bbox"]) for x in out["annotations"]] == [
        (1, 1, 1, [1, 2, 10, 20]), (2, 1, 2, [30, 5, 34, 43]),
    ]  # fmt: skip
    # the export imports back into another pool holding the same files
    other = create_pool(client, "other", ("car", "bus"))
    upload(client, other, [("a.jpg", image_bytes(w=64, h=48, seed=1))])
    out["images"] = out["images"][:1]
    r = _import(client, other, json.dumps(out).encode())
    assert (r.status_code, r.json()["annotations"]) == (200, 2)


def test_import_from_zip_and_unknown_categories(client, settings) -> None:
    pid = create_pool(client)
    archive = zip_bytes({"imgs/x.jpg": image_bytes(w=50, h=40, seed=5),
                         "imgs/y.jpg": image_bytes(w=50, h=40, seed=6)})  # fmt: skip
    coco = _coco(
        [{"id": 10, "file_name": "x.jpg"}, {"id": 11, "file_name": "y.jpg"}],
        [{"id": 1, "image_id": 10, "category_id": 1, "bbox": [5, 5, 10, 10]}],
        categories=[{"id": 1, "name": "truck"}, {"id": 2, "name": "tram"}],  # tram unused
    )
    r = _import(client, pid, coco, archive)
    assert r.status_code == 422
    assert r.json()["detail"] == (
        "COCO categories not in the pool's classes: truck (pass add_classes=true to append them)"
    )
    assert all_images(client, pid) == [] and stored_files(settings) == []
    r = _import(client, pid, coco, archive, add_classes="true")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["classes_added"] == ["truck"]
    assert (body["images_from_archive"], body["images_labeled"], body["annotations"]) == (2, 2, 1)
    assert client.get(f"/api/v1/pools/{pid}").json()["classes"] == ["car", "bus", "truck"]
    assert sorted(i["state"] for i in all_images(client, pid)) == ["labeled", "labeled"]
    assert len(stored_files(settings)) == 2


def test_strict_refuses_everything_lenient_skips_problems(client, settings) -> None:
    pid = create_pool(client)
    upload(client, pid, [("ok.jpg", image_bytes(w=32, h=24, seed=1)),
                         ("wide.jpg", image_bytes(w=32, h=24, seed=2))])  # fmt: skip
    archive = zip_bytes({"fresh.jpg": image_bytes(seed=3)})
    coco = _coco(
        [{"id": 1, "file_name": "ok.jpg"}, {"id": 2, "file_name": "wide.jpg"},
         {"id": 3, "file_name": "missing.jpg"}, {"id": 4, "file_name": "fresh.jpg"}],
        [{"image_id": 1, "category_id": 3, "bbox": [0, 0, 8, 8]},
         {"image_id": 2, "category_id": 3, "bbox": [20, 0, 30, 8]},
         {"image_id": 99, "category_id": 3, "bbox": [0, 0, 1, 1]}],
    )  # fmt: skip
    r = _import(client, pid, coco, archive)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail.startswith("COCO import refused, nothing was stored: ")
    assert "image 'missing.jpg': not in the archive nor uploaded to the pool" in detail
    assert "image 'wide.jpg': box 0: [20.0, 0.0, 50.0, 8.0] lies outside" in detail
    assert "annotation 2: image_id 99 is not in 'images'" in detail
    assert {i["state"] for i in all_images(client, pid)} == {"unlabeled"}
    assert len(all_images(client, pid)) == 2 and len(stored_files(settings)) == 2
    r = _import(client, pid, coco, archive, strict="false")
    assert r.status_code == 200, r.text
    assert (r.json()["images_labeled"], r.json()["annotations"]) == (2, 1)
    assert len(r.json()["problems"]) == 3
    states = {i["filename"]: i["state"] for i in all_images(client, pid)}
    assert states == {"ok.jpg": "labeled", "wide.jpg": "unlabeled", "fresh.jpg": "labeled"}


def test_bad_coco_files_are_422(client) -> None:
    pid = create_pool(client)
    cases = {
        b"{not json": "annotations is not valid JSON",
        b'{"categories": []}': "not a COCO detection file: images: Field required",
        _coco([{"id": 1}], []): "images.0.file_name: Field required",
    }
    for raw, reason in cases.items():
        r = _import(client, pid, raw)
        assert r.status_code == 422
        assert reason in r.json()["detail"]
    r = client.post(f"/api/v1/pools/{pid}/import/coco", files={"archive": ("a.zip", b"x")})
    assert r.json()["detail"] == "send the files as multipart/form-data field 'annotations'"
    r = _import(client, pid, _coco([], []), b"not a zip")
    assert r.status_code == 422 and r.json()["detail"].startswith("archive not usable: not a valid")
    assert _import(client, 999, _coco([], [])).json() == {"detail": "pool 999 not found"}
    assert client.get("/api/v1/pools/999/export/coco").status_code == 404


def _labeled_pool(client, name: str = "p") -> tuple[int, dict[str, int]]:
    """A pool with t.jpg (train) and v.jpg (val), both labeled by a COCO import."""
    pid = create_pool(client, name)
    ids = {}
    for fname, split, seed in (("t.jpg", "train", 1), ("v.jpg", "val", 2)):
        r = upload(client, pid, [(fname, image_bytes(w=40, h=30, seed=seed))], split=split)
        ids[fname] = r.json()["accepted"][0]["image_id"]
    coco = _coco(
        [{"id": 1, "file_name": "t.jpg"}, {"id": 2, "file_name": "v.jpg"}],
        [{"image_id": 1, "category_id": 3, "bbox": [1, 1, 5, 5]},
         {"image_id": 2, "category_id": 7, "bbox": [2, 2, 6, 6]}],
    )  # fmt: skip
    assert _import(client, pid, coco).status_code == 200  # no alp_split: splits unchanged
    return pid, ids


def test_export_carries_each_images_split_and_filters_by_split(app, client) -> None:
    pid, ids = _labeled_pool(client)
    url = f"/api/v1/pools/{pid}/export/coco"
    everything = client.get(url).json()
    assert [(i["file_name"], i["alp_image_id"], i["alp_split"]) for i in everything["images"]] == [
        ("t.jpg", ids["t.jpg"], "train"), ("v.jpg", ids["v.jpg"], "val"),
    ]  # fmt: skip
    for split, name, cat in (("train", "t.jpg", 1), ("val", "v.jpg", 2)):
        out = client.get(url, params={"split": split}).json()
        assert [(i["id"], i["file_name"], i["alp_split"]) for i in out["images"]] == [
            (1, name, split)
        ]
        assert [(a["id"], a["image_id"], a["category_id"]) for a in out["annotations"]] == [
            (1, 1, cat)
        ]
    r = client.get(url, params={"split": "test"})
    assert r.status_code == 422 and "split" in r.json()["detail"]
    op = app.openapi()["paths"]["/api/v1/pools/{pool_id}/export/coco"]["get"]
    spec = next(p for p in op["parameters"] if p["name"] == "split")
    assert spec["in"] == "query" and not spec.get("required", False)
    assert "train" in json.dumps(spec["schema"]) and "val" in json.dumps(spec["schema"])
    assert "split" in spec["description"] and "alp_split" in op["description"]


def test_import_reads_the_split_back_round_trip(client, settings) -> None:
    src, _ = _labeled_pool(client, "src")
    exported = client.get(f"/api/v1/pools/{src}/export/coco").json()
    dst = create_pool(client, "dst", ("car", "bus"))
    upload(client, dst, [("t.jpg", image_bytes(w=40, h=30, seed=1)),
                         ("v.jpg", image_bytes(w=40, h=30, seed=2))])  # fmt: skip
    assert {i["split"] for i in all_images(client, dst)} == {"train"}
    r = _import(client, dst, json.dumps(exported).encode())
    assert (r.status_code, r.json()["images_labeled"]) == (200, 2), r.text
    assert {i["filename"]: i["split"] for i in all_images(client, dst)} == {
        "t.jpg": "train", "v.jpg": "val",
    }  # fmt: skip
    back = client.get(f"/api/v1/pools/{dst}/export/coco", params={"split": "val"}).json()
    assert [i["file_name"] for i in back["images"]] == ["v.jpg"]
    assert [a["bbox"] for a in back["annotations"]] == [[2, 2, 6, 6]]
    # from a zip too: the archive's images are stored, then take the file's split
    zpid = create_pool(client, "zip", ("car", "bus"))
    archive = zip_bytes({"t.jpg": image_bytes(w=40, h=30, seed=1),
                         "v.jpg": image_bytes(w=40, h=30, seed=2)})  # fmt: skip
    r = _import(client, zpid, json.dumps(exported).encode(), archive)
    assert r.status_code == 200, r.text
    assert {i["filename"]: i["split"] for i in all_images(client, zpid)} == {
        "t.jpg": "train", "v.jpg": "val",
    }  # fmt: skip
    # a bad split refuses the file: nothing stored, nothing changed
    exported["images"][0]["alp_split"] = "test"
    r = _import(client, dst, json.dumps(exported).encode())
    assert r.status_code == 422
    assert "images.0.alp_split" in r.json()["detail"] and "'train' or 'val'" in r.json()["detail"]
    assert {i["filename"]: i["split"] for i in all_images(client, dst)} == {
        "t.jpg": "train", "v.jpg": "val",
    }  # fmt: skip


def test_export_includes_stored_predictions_as_coco_results(app, client, db) -> None:
    from alp.db import Prediction

    pid, ids = _labeled_pool(client)
    r = upload(client, pid, [("u.jpg", image_bytes(w=40, h=30, seed=3))], split="val")
    unlabeled = r.json()["accepted"][0]["image_id"]
    url = f"/api/v1/pools/{pid}/export/coco"
    plain = client.get(url).json()
    box = {"x1": 1.0, "y1": 2.0, "x2": 11.0, "y2": 7.0}
    v_boxes = [{**box, "label": "bus", "score": 0.9}, {**box, "label": "gone", "score": 0.8}]
    db.add(Prediction(image_id=ids["v.jpg"], pool_id=pid, boxes=v_boxes))
    db.add(
        Prediction(image_id=unlabeled, pool_id=pid, boxes=[{**box, "label": "car", "score": 0.5}])
    )
    db.commit()
    again = client.get(url).json()  # unchanged when not requested
    assert {k: v for k, v in again.items() if k != "info"} == {
        k: v for k, v in plain.items() if k != "info"
    }
    out = client.get(url, params={"include": "predictions"}).json()
    assert out["annotations"] == plain["annotations"] and out["images"] == plain["images"]
    assert [(i["id"], i["file_name"], i["alp_image_id"]) for i in out["prediction_images"]] == [
        (3, "u.jpg", unlabeled)
    ]
    got = [(p["image_id"], p["category_id"], p["bbox"], p["score"]) for p in out["predictions"]]
    assert got == [(2, 2, [1.0, 2.0, 10.0, 5.0], 0.9), (3, 1, [1.0, 2.0, 10.0, 5.0], 0.5)]
    val = client.get(url, params={"include": "predictions", "split": "val"}).json()
    assert [i["file_name"] for i in val["images"] + val["prediction_images"]] == ["v.jpg", "u.jpg"]
    assert [p["image_id"] for p in val["predictions"]] == [1, 2]
    train = client.get(url, params={"include": "predictions", "split": "train"}).json()
    assert (train["predictions"], train["prediction_images"]) == ([], [])
    r = client.get(url, params={"include": "boxes"})
    assert r.status_code == 422 and "include" in r.json()["detail"]
    op = app.openapi()["paths"]["/api/v1/pools/{pool_id}/export/coco"]["get"]
    spec = next(p for p in op["parameters"] if p["name"] == "include")
    assert spec["in"] == "query" and "predictions" in json.dumps(spec["schema"])
    # an import of the richer export ignores the predictions: only labeled images come back
    dst = create_pool(client, "dst", ("car", "bus"))
    upload(client, dst, [("t.jpg", image_bytes(w=40, h=30, seed=1)),
                         ("v.jpg", image_bytes(w=40, h=30, seed=2)),
                         ("u.jpg", image_bytes(w=40, h=30, seed=3))])  # fmt: skip
    r = _import(client, dst, json.dumps(out).encode())
    assert r.status_code == 200 and r.json()["images_labeled"] == 2, r.text
