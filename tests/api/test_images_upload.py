"""Image upload: formats, dedupe, every rejection (status, reason, nothing stored), limits,
cleanup of written files when the request fails. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from alp.services import decoding, ingest
from alp.storage import image_key
from tests.api.images_helpers import (
    all_images,
    create_pool,
    image_bytes,
    png_header_only,
    stored_files,
    upload,
)


def test_accepts_formats_dedupes_and_trusts_content(client, settings) -> None:
    pid = create_pool(client)
    files = [
        ("a.jpg", image_bytes("JPEG", 40, 30, seed=1)),
        ("b.png", image_bytes("PNG", seed=2)),
        ("c.webp", image_bytes("WEBP", seed=3)),
        ("d.bmp", image_bytes("BMP", seed=4)),
        ("e.jpg", image_bytes("PNG", seed=5)),  # wrong extension, valid PNG
        ("dir/a-copy.jpg", image_bytes("JPEG", 40, 30, seed=1)),  # same bytes as a.jpg
    ]
    r = upload(client, pid, files)
    assert r.status_code == 201, r.text
    body = r.json()
    assert [a["filename"] for a in body["accepted"]] == [
        "a.jpg",
        "b.png",
        "c.webp",
        "d.bmp",
        "e.jpg",
    ]
    assert (body["accepted"][0]["width"], body["accepted"][0]["height"]) == (40, 30)
    a_id = body["accepted"][0]["image_id"]
    assert body["duplicates"] == [{"filename": "a-copy.jpg", "image_id": a_id}]
    assert body["rejected"] == []
    rows = {i["filename"]: i for i in all_images(client, pid)}
    assert rows["e.jpg"]["content_type"] == "image/png"
    assert rows["c.webp"]["content_type"] == "image/webp"
    assert {i["state"] for i in rows.values()} == {"unlabeled"}
    assert [f.rsplit(".", 1)[1] for f in stored_files(settings)].count("png") == 2
    assert len(stored_files(settings)) == 5
    again = upload(client, pid, [("again.jpg", files[0][1])])
    assert again.status_code == 200
    assert again.json()["duplicates"] == [{"filename": "again.jpg", "image_id": a_id}]
    assert len(all_images(client, pid)) == 5
    other = create_pool(client, "other")  # dedupe is per pool
    assert upload(client, other, [files[0]]).status_code == 201


def test_every_content_rejection_stores_nothing(client, settings) -> None:
    pid = create_pool(client)
    jpeg = image_bytes("JPEG", 200, 100, seed=9)
    png = image_bytes("PNG", 64, 48, seed=8)
    files = [
        ("empty.jpg", b""),
        ("notes.jpg", b"just some text, not an image"),
        ("anim.gif", image_bytes("GIF")),
        ("cut.jpg", jpeg[:-200]),
        ("cut.png", png[: len(png) // 2]),
    ]
    r = upload(client, pid, files)
    assert r.status_code == 422, r.text
    body = r.json()
    reasons = {x["filename"]: x["reason"] for x in body["rejected"]}
    assert reasons["empty.jpg"] == "empty file (0 bytes)"
    assert reasons["notes.jpg"] == "not a JPEG, PNG, WebP or BMP image"
    assert reasons["anim.gif"] == "not a JPEG, PNG, WebP or BMP image"
    assert reasons["cut.jpg"].startswith("corrupt or truncated image data")
    assert reasons["cut.png"].startswith("corrupt or truncated image data")
    assert body["detail"].startswith("no file was accepted: empty.jpg: empty file")
    assert body["accepted"] == [] and body["duplicates"] == []
    assert all_images(client, pid) == []
    assert stored_files(settings) == []


def test_size_and_pixel_limits_are_413(client, settings) -> None:
    pid = create_pool(client)
    bomb = upload(client, pid, [("bomb.png", png_header_only(10_000, 8_000))])
    assert bomb.status_code == 413
    assert bomb.json()["rejected"][0]["reason"] == (
        "image is 10000x8000 = 80000000 pixels, above the limit of 64000000 pixels"
    )
    big = image_bytes("BMP", 40, 40)  # 4854 bytes
    settings.max_upload_bytes = 4000
    r = upload(client, pid, [("big.bmp", big)])
    assert r.status_code == 413
    assert r.json()["rejected"] == [
        {
            "filename": "big.bmp",
            "reason": f"file is {len(big)} bytes, above the limit of 4000 bytes",
        }
    ]
    settings.max_upload_bytes, settings.max_image_pixels = 10**6, 1000
    r = upload(client, pid, [("wide.png", image_bytes("PNG", 50, 21))])
    assert r.status_code == 413
    assert "50x21 = 1050 pixels, above the limit of 1000" in r.json()["rejected"][0]["reason"]
    settings.max_zip_bytes = 1  # request limit = max_zip_bytes + 1 MiB of multipart slack
    r = upload(client, pid, [("huge.jpg", b"\xff" * (1024 * 1024 + 10))])
    assert r.status_code == 413
    assert r.json()["detail"].startswith("request body is ")
    assert "send fewer files per request" in r.json()["detail"]
    assert all_images(client, pid) == []
    assert stored_files(settings) == []


def test_mixed_request_keeps_the_good_files(client, settings) -> None:
    pid = create_pool(client)
    r = upload(client, pid, [("bad.png", b"\x89PNG\r\n\x1a\nxx"), ("ok.jpg", image_bytes())])
    assert r.status_code == 201
    assert [a["filename"] for a in r.json()["accepted"]] == ["ok.jpg"]
    assert r.json()["rejected"][0]["filename"] == "bad.png"
    assert [i["filename"] for i in all_images(client, pid)] == ["ok.jpg"]
    assert len(stored_files(settings)) == 1


def test_split_and_request_errors(client, anon_client) -> None:
    pid = create_pool(client)
    r = upload(client, pid, [("v.jpg", image_bytes())], split="val")
    assert r.status_code == 201
    assert all_images(client, pid)[0]["split"] == "val"
    bad = upload(client, pid, [("w.jpg", image_bytes(seed=2))], split="test")
    assert (bad.status_code, bad.json()["detail"]) == (422, "split must be one of train, val")
    r = client.post(f"/api/v1/pools/{pid}/images", json={"files": []})
    assert r.status_code == 422
    assert r.json()["detail"] == "send the files as multipart/form-data field 'files'"
    r = client.post(f"/api/v1/pools/{pid}/images", data={"files": "text"}, files={"x": ("x", b"")})
    assert r.json()["detail"] == "form field 'files' must contain files, not text"
    r = upload(client, 999, [("v.jpg", image_bytes())])
    assert (r.status_code, r.json()["detail"]) == (404, "pool 999 not found")
    assert upload(anon_client, pid, [("v.jpg", image_bytes())]).status_code == 401
    assert len(all_images(client, pid)) == 1


def test_failure_after_writing_files_removes_them(client, settings, monkeypatch) -> None:
    monkeypatch.setattr(decoding, "PREVIEW_MIN_PIXELS", 100)  # previews are staged too
    pid = create_pool(client)
    real_store = ingest._store

    def store_then_fail(*args, **kwargs):
        real_store(*args, **kwargs)
        assert len(stored_files(settings)) == 4, "files and previews written before the failure"
        raise RuntimeError("simulated crash before commit")

    monkeypatch.setattr(ingest, "_store", store_then_fail)
    with pytest.raises(RuntimeError, match="simulated crash"):
        upload(client, pid, [("a.jpg", image_bytes()), ("b.jpg", image_bytes(seed=3))])
    monkeypatch.setattr(ingest, "_store", real_store)
    assert stored_files(settings) == []
    assert all_images(client, pid) == []


def test_files_are_kept_when_the_commit_itself_fails(client, settings, monkeypatch) -> None:
    """A failed commit may have succeeded (answer lost): deleting would leave rows without
    files, so the written files stay (at worst an orphan, re-used by a later upload)."""
    from sqlalchemy.orm import Session

    pid = create_pool(client)

    def lost_answer(self):
        raise ConnectionError("connection lost during COMMIT")

    monkeypatch.setattr(Session, "commit", lost_answer)
    with pytest.raises(ConnectionError):
        upload(client, pid, [("a.jpg", image_bytes())])
    monkeypatch.undo()
    assert len(stored_files(settings)) == 1
    r = upload(client, pid, [("a.jpg", image_bytes())])  # nothing was committed: stored now
    assert r.status_code == 201
    assert stored_files(settings) == [image_key(pid, r.json()["accepted"][0]["sha256"], "jpg")]
