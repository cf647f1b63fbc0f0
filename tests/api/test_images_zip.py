"""Zip uploads: members treated like files, bad archives refused whole with nothing stored."""

from __future__ import annotations

import gzip

from tests.api.images_helpers import (
    all_images,
    create_pool,
    image_bytes,
    stored_files,
    upload,
    zip_bytes,
)


def test_zip_members_are_treated_like_files(client, settings) -> None:
    pid = create_pool(client)
    z = zip_bytes({
        "set/a.jpg": image_bytes(seed=1),
        "set/b.png": image_bytes("PNG", seed=2),
        "set/notes.txt": b"hello",
        "copy/a.jpg": image_bytes(seed=1),
        "__MACOSX/set/._a.jpg": b"junk",
    })  # fmt: skip
    inner_named_bin = zip_bytes({"c.webp": image_bytes("WEBP", seed=3)})
    r = upload(client, pid, [("shots.zip", z), ("more.bin", inner_named_bin),
                             ("plain.jpg", image_bytes(seed=4))])  # fmt: skip
    assert r.status_code == 201, r.text
    body = r.json()
    assert [a["filename"] for a in body["accepted"]] == [
        "shots.zip/set/a.jpg", "shots.zip/set/b.png", "more.bin/c.webp", "plain.jpg",
    ]  # fmt: skip
    assert body["duplicates"] == [
        {"filename": "shots.zip/copy/a.jpg", "image_id": body["accepted"][0]["image_id"]}
    ]
    assert body["rejected"] == [
        {"filename": "shots.zip/set/notes.txt", "reason": "not a JPEG, PNG, WebP or BMP image"}
    ]
    names = sorted(i["filename"] for i in all_images(client, pid))
    assert names == ["a.jpg", "b.png", "c.webp", "plain.jpg"]
    assert len(stored_files(settings)) == 4


def test_bad_archives_are_refused_whole(client, settings) -> None:
    pid = create_pool(client)
    good = image_bytes(seed=7)
    archives = {
        "traversal.zip": zip_bytes({"ok.jpg": good, "../../evil.jpg": image_bytes(seed=8)}),
        "absolute.zip": zip_bytes({"/tmp/evil.jpg": good}),
        "symlink.zip": zip_bytes({"ok.jpg": good}, symlinks={"link.jpg": "/etc/passwd"}),
        "nested.zip": zip_bytes({"ok.jpg": good, "inner.zip": zip_bytes({"x.jpg": good})}),
        "sneaky.zip": zip_bytes({"ok.jpg": good, "photo.jpg": gzip.compress(b"x" * 999)}),
        "fake.zip": b"this is not a zip archive",
    }
    r = upload(client, pid, list(archives.items()))
    assert r.status_code == 422, r.text
    reasons = {x["filename"]: x["reason"] for x in r.json()["rejected"]}
    assert list(reasons) == list(archives)  # one rejection per archive, no member entries
    assert "'..' is not allowed" in reasons["traversal.zip"]
    assert "absolute paths are not allowed" in reasons["absolute.zip"]
    assert reasons["symlink.zip"] == "symlink member 'link.jpg' is not allowed"
    assert reasons["nested.zip"] == "nested archive 'inner.zip' is not allowed"
    assert reasons["sneaky.zip"] == "nested archive 'photo.jpg' is not allowed"
    assert reasons["fake.zip"].startswith("not a valid zip archive")
    assert r.json()["accepted"] == [] and r.json()["duplicates"] == []
    assert all_images(client, pid) == []
    assert stored_files(settings) == []


def test_archive_limits(client, settings) -> None:
    pid = create_pool(client)
    z = zip_bytes({f"{i}.jpg": image_bytes(seed=i) for i in range(3)})
    settings.max_zip_members = 2
    r = upload(client, pid, [("many.zip", z)])
    assert r.status_code == 413
    assert r.json()["rejected"] == [
        {"filename": "many.zip", "reason": "archive has 3 files, above the limit of 2"}
    ]
    bomb = zip_bytes({"flat.bmp": image_bytes("BMP", 100, 100)})  # 30054 bytes, deflates well
    assert len(bomb) < 1000
    settings.max_zip_members, settings.max_zip_bytes = 100, 20_000
    r = upload(client, pid, [("bomb.zip", bomb)])
    assert r.status_code == 413
    assert r.json()["rejected"][0]["reason"] == (
        "archive uncompresses to 30054 bytes, above the limit of 20000 bytes"
    )
    assert all_images(client, pid) == []
    assert stored_files(settings) == []
