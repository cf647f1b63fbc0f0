"""YOLO / Pascal VOC / Label Studio JSON import and export over the REST API, hash lookup,
per-file problems and hostile files (nothing stored)."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from tests.api.images_helpers import (
    all_images,
    create_pool,
    image_bytes,
    stored_files,
    upload,
    zip_bytes,
)

A, B = image_bytes(w=64, h=48, seed=1), image_bytes("PNG", w=50, h=40, seed=2)
BOXES = {
    "a.jpg": [(1.25, 2.5, 11.75, 22.4, "car"), (30.1, 5.3, 63.9, 47.6, "bus")],
    "b.png": [(0.0, 0.0, 49.5, 39.75, "bus")],
}


def _coco() -> bytes:
    cats = [{"id": 1, "name": "car"}, {"id": 2, "name": "bus"}]
    images = [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.png"}]
    anns = [
        {"id": k, "image_id": 1 if name == "a.jpg" else 2, "category_id": 1 + (lb == "bus"),
         "bbox": [x1, y1, x2 - x1, y2 - y1]}
        for k, (name, boxes) in enumerate(BOXES.items())
        for (x1, y1, x2, y2, lb) in boxes
    ]  # fmt: skip
    return json.dumps({"images": images, "annotations": anns, "categories": cats}).encode()


def _labeled_pool(client, name: str = "src") -> int:
    pid = create_pool(client, name)
    assert upload(client, pid, [("a.jpg", A), ("b.png", B)]).status_code == 201
    r = client.post(
        f"/api/v1/pools/{pid}/import/coco",
        files=[("annotations", ("c.json", _coco(), "application/json"))],
    )
    assert r.status_code == 200, r.text
    return pid


def _boxes_by_name(client, pid: int) -> dict[str, list[tuple]]:
    doc = client.get(f"/api/v1/pools/{pid}/export/coco").json()
    names = {c["id"]: c["name"] for c in doc["categories"]}
    files = {i["id"]: i["file_name"] for i in doc["images"]}
    out: dict[str, list[tuple]] = {f: [] for f in files.values()}
    for a in doc["annotations"]:
        x, y, w, h = a["bbox"]
        out[files[a["image_id"]]].append((x, y, x + w, y + h, names[a["category_id"]]))
    return out


def _close(got: dict, want: dict, tol: float = 0.5) -> None:
    assert got.keys() == want.keys()
    for name in want:
        assert len(got[name]) == len(want[name]), name
        for g, w in zip(sorted(got[name], key=str), sorted(want[name], key=str), strict=True):
            assert g[4] == w[4]
            assert all(abs(a - b) <= tol for a, b in zip(g[:4], w[:4], strict=True)), (g, w)


def _import(client, pid: int, fmt: str, archive: bytes | None = None,
            annotations: bytes | None = None, **params: str):  # fmt: skip
    files = []
    if archive is not None:
        files.append(("archive", ("d.zip", archive, "application/zip")))
    if annotations is not None:
        files.append(("annotations", ("ls.json", annotations, "application/json")))
    return client.post(f"/api/v1/pools/{pid}/import/{fmt}", files=files, params=params)


@pytest.mark.parametrize("fmt", ["yolo", "voc"])
def test_coco_to_format_to_coco_round_trip(client, fmt: str) -> None:
    src = _labeled_pool(client)
    r = client.get(f"/api/v1/pools/{src}/export/{fmt}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    if fmt == "yolo":
        assert {"data.yaml", "labels/a.txt", "images/a.jpg", "images/b.png"} <= set(names)
    else:
        assert {"Annotations/a.xml", "JPEGImages/a.jpg", "JPEGImages/b.png"} <= set(names)
    dst = create_pool(client, "dst", ("bus", "car"))  # other class order: mapped by name
    r2 = _import(client, dst, fmt, r.content)
    assert r2.status_code == 200, r2.text
    body = r2.json()
    assert (body["images_labeled"], body["annotations"], body["problems"]) == (2, 3, [])
    assert body["images_from_archive"] == 2 and body["upload"]["rejected"] == []
    _close(_boxes_by_name(client, dst), BOXES, tol=0.01)  # spec: 0.5 px


def test_labels_only_zip_matches_uploaded_images(client) -> None:
    src = _labeled_pool(client)
    labels = client.get(f"/api/v1/pools/{src}/export/yolo", params={"images": "false"})
    assert "images/a.jpg" not in zipfile.ZipFile(io.BytesIO(labels.content)).namelist()
    dst = create_pool(client, "dst")
    upload(client, dst, [("a.jpg", A), ("b.png", B)])
    r = _import(client, dst, "yolo", labels.content)
    assert (r.status_code, r.json()["images_labeled"]) == (200, 2), r.text
    _close(_boxes_by_name(client, dst), BOXES)


def test_labelstudio_json_round_trip(client) -> None:
    src = _labeled_pool(client)
    tasks = client.get(f"/api/v1/pools/{src}/export/labelstudio").json()
    assert tasks[0]["annotations"][0]["result"][0]["type"] == "rectanglelabels"
    for t in tasks:  # as if from another server: no alp id, an LS upload prefix
        t["data"] = {"image": f"/data/upload/3/0a1b2c3d-{t['data']['image']}"}
    dst = create_pool(client, "dst")
    archive = zip_bytes({"a.jpg": A, "b.png": B})
    r = _import(client, dst, "labelstudio", archive, json.dumps(tasks).encode())
    assert r.status_code == 200, r.text
    assert (r.json()["images_labeled"], r.json()["images_from_archive"]) == (2, 2)
    _close(_boxes_by_name(client, dst), BOXES, tol=0.01)


def test_per_file_problems_are_listed_not_fatal(client, settings) -> None:
    pid = create_pool(client)
    archive = zip_bytes({
        "data.yaml": b"names: [car, bus]\n",
        "images/ok.jpg": A, "images/nan.jpg": image_bytes(seed=3),
        "images/out.jpg": image_bytes(seed=4), "images/cls.jpg": image_bytes(seed=5),
        "labels/ok.txt": b"0 0.5 0.5 0.2 0.2\n1 0.25 0.25 0.1 0.1\n",
        "labels/nan.txt": b"0 nan 0.5 0.2 0.2\n",
        "labels/out.txt": b"0 0.95 0.5 0.2 0.2\n",
        "labels/cls.txt": b"7 0.5 0.5 0.2 0.2\n",
        "labels/missing.txt": b"0 0.5 0.5 0.2 0.2\n",
    })  # fmt: skip
    strict = _import(client, pid, "yolo", archive)
    assert strict.status_code == 422 and "nothing was stored" in strict.json()["detail"]
    assert all_images(client, pid) == [] and stored_files(settings) == []
    r = _import(client, pid, "yolo", archive, strict="false")
    assert r.status_code == 200, r.text
    problems = " | ".join(r.json()["problems"])
    assert "labels/nan.txt: line 1: values must be finite" in problems
    assert "labels/out.txt: line 1" in problems and "outside the image" in problems
    assert "labels/cls.txt: line 1: class index 7" in problems
    assert "labels/missing.txt: missing image 'missing.jpg'" in problems
    assert r.json()["images_labeled"] == 1 and r.json()["annotations"] == 2


def test_voc_unknown_class_and_box_outside(client) -> None:
    pid = create_pool(client)
    xml = "<annotation><filename>{}</filename><object><name>{}</name><bndbox><xmin>1</xmin>" \
          "<ymin>1</ymin><xmax>{}</xmax><ymax>10</ymax></bndbox></object></annotation>"  # fmt: skip
    archive = zip_bytes({
        "a.jpg": A, "b.png": B,
        "Annotations/a.xml": xml.format("a.jpg", "truck", 10).encode(),
        "Annotations/b.xml": xml.format("b.png", "car", 500).encode(),
    })  # fmt: skip
    r = _import(client, pid, "voc", archive, strict="false")
    problems = " | ".join(r.json()["problems"])
    assert "Annotations/a.xml" in problems and "unknown class 'truck'" in problems
    assert "Annotations/b.xml" in problems and "outside the image" in problems
    r2 = _import(client, pid, "voc", archive, add_classes="true", strict="false")
    assert r2.json()["classes_added"] == ["truck"] and r2.json()["images_labeled"] == 1


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<annotation><filename>a.jpg</filename><object><name>&lol3;</name></object></annotation>"""


@pytest.mark.parametrize(
    ("fmt", "entries", "reason"),
    [
        ("voc", {"a.jpg": A, "a.xml": BILLION_LAUGHS}, "refused XML"),
        ("yolo", {"a.jpg": A, "data.yaml": b"names: !!python/object/apply:os.system [ls]\n",
                  "labels/a.txt": b"0 0.5 0.5 0.1 0.1\n"}, "not plain YAML"),
        ("yolo", {"a.jpg": A, "data.yaml": b"names: [car]\n",
                  "labels/a.txt": b"0 0.5 0.5 inf 0.1\n"}, "finite"),
        ("yolo", {"a.jpg": A, "data.yaml": b"names: [car]\n",
                  "labels/a.txt": b"0 1.7 0.5 0.1 0.1\n"}, "out of [0, 1]"),
    ],
)  # fmt: skip
def test_hostile_files_refused_nothing_stored(client, settings, fmt, entries, reason) -> None:
    pid = create_pool(client)
    r = _import(client, pid, fmt, zip_bytes(entries))
    assert r.status_code == 422 and reason in r.json()["detail"], r.text
    assert all_images(client, pid) == [] and stored_files(settings) == []


def test_bad_requests_are_4xx(client) -> None:
    pid = create_pool(client)
    assert _import(client, pid, "yolo").status_code == 422  # no archive
    assert _import(client, pid, "yolo", b"not a zip").status_code == 422
    assert _import(client, pid, "labelstudio", annotations=b"{").status_code == 422
    assert _import(client, pid, "darknet", zip_bytes({})).status_code == 422
    assert client.get(f"/api/v1/pools/{pid}/export/darknet").status_code == 422
    assert client.get("/api/v1/pools/999/export/yolo").status_code == 404


def test_hash_lookup(client) -> None:
    import hashlib

    pid = create_pool(client)
    ids = {
        a["sha256"]: a["image_id"] for a in upload(client, pid, [("a.jpg", A)]).json()["accepted"]
    }
    sha_a, sha_b = hashlib.sha256(A).hexdigest(), hashlib.sha256(B).hexdigest()
    r = client.post(f"/api/v1/pools/{pid}/images/lookup", json={"sha256": [sha_a, sha_b]})
    assert r.status_code == 200 and r.json() == {"known": {sha_a: ids[sha_a]}}
    bad = client.post(f"/api/v1/pools/{pid}/images/lookup", json={"sha256": "x"})
    assert bad.status_code == 422
    assert client.post("/api/v1/pools/999/images/lookup", json={"sha256": []}).status_code == 404


def test_archive_without_labels_of_the_format_is_422(client) -> None:
    pid = create_pool(client)
    r = _import(client, pid, "voc", zip_bytes({"a.jpg": A, "labels/a.txt": b"0 .5 .5 .1 .1\n"}))
    assert r.status_code == 422 and ".xml" in r.json()["detail"]
    r = _import(client, pid, "yolo", zip_bytes({"a.jpg": A, "data.yaml": b"names: [car]\n"}))
    assert r.status_code == 422 and "labels/*.txt" in r.json()["detail"]
    assert all_images(client, pid) == []
