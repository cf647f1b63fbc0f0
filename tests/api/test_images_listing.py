"""Listing with cursor pagination and filters, image metadata, content with ETag/304,
signed expiring URLs (no API key; tampered/expired -> 403)."""

from __future__ import annotations

from alp.db import Annotation, Image
from alp.services import signing
from tests.api.images_helpers import create_pool, image_bytes, upload


def _upload_n(client, pid: int, n: int, split: str = "train", start: int = 0) -> list[int]:
    files = [(f"{i}.jpg", image_bytes(seed=i)) for i in range(start, start + n)]
    r = upload(client, pid, files, split=split)
    assert r.status_code == 201, r.text
    return [a["image_id"] for a in r.json()["accepted"]]


def test_pagination_and_filters(client, sessions) -> None:
    pid = create_pool(client)
    ids = _upload_n(client, pid, 3) + _upload_n(client, pid, 2, split="val", start=10)
    url = f"/api/v1/pools/{pid}/images"
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(url, params=params).json()
        seen += [i["id"] for i in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert (seen, pages) == (ids, 3)
    assert [i["id"] for i in client.get(url, params={"split": "val"}).json()["items"]] == ids[3:]
    with sessions() as s:
        s.get(Image, ids[1]).state = "labeled"
        s.commit()
    labeled = client.get(url, params={"state": "labeled", "split": "train"}).json()
    assert [i["id"] for i in labeled["items"]] == [ids[1]]
    assert labeled["next_cursor"] is None
    bad = client.get(url, params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400
    assert bad.json()["detail"] == "invalid cursor 'not-a-cursor': use next_cursor from a page"
    assert client.get(url, params={"limit": 0}).status_code == 422
    assert "state" in client.get(url, params={"state": "done"}).json()["detail"]
    assert client.get("/api/v1/pools/999/images").json() == {"detail": "pool 999 not found"}


def test_detail_has_boxes_when_labeled_and_a_signed_url(client, anon_client, sessions) -> None:
    pid = create_pool(client)
    (iid,) = _upload_n(client, pid, 1)
    d = client.get(f"/api/v1/images/{iid}").json()
    assert (d["boxes"], d["state"], d["width"]) == (None, "unlabeled", 32)
    assert d["content_url"].startswith(f"http://testserver/api/v1/images/{iid}/content?expires=")
    assert anon_client.get(d["content_url"]).content == image_bytes(seed=0)
    box = {"x1": 1.0, "y1": 2.0, "x2": 10.0, "y2": 12.0, "label": "car"}
    with sessions() as s:
        s.add(Annotation(image_id=iid, boxes=[box], source="api"))
        s.get(Image, iid).state = "labeled"
        s.commit()
    d = client.get(f"/api/v1/images/{iid}").json()
    assert d["boxes"] == [{**box, "score": None}]
    assert d["annotation_source"] == "api"
    assert client.get("/api/v1/images/999").status_code == 404


def test_content_with_key_etag_and_304(client, anon_client) -> None:
    pid = create_pool(client)
    png = image_bytes("PNG", seed=3)
    iid = upload(client, pid, [("x.png", png)]).json()["accepted"][0]["image_id"]
    r = client.get(f"/api/v1/images/{iid}/content")
    assert r.status_code == 200
    assert r.content == png
    assert r.headers["content-type"] == "image/png"
    sha = client.get(f"/api/v1/images/{iid}").json()["sha256"]
    assert r.headers["etag"] == f'"{sha}"'
    assert "max-age" in r.headers["cache-control"]
    for header in (f'"{sha}"', f'W/"{sha}"', f'"other", "{sha}"', "*"):
        again = client.get(f"/api/v1/images/{iid}/content", headers={"If-None-Match": header})
        assert (again.status_code, again.content) == (304, b"")
        assert again.headers["etag"] == f'"{sha}"'
    assert client.get(f"/api/v1/images/{iid}/content",
                      headers={"If-None-Match": '"other"'}).status_code == 200  # fmt: skip
    assert anon_client.get(f"/api/v1/images/{iid}/content").status_code == 401


def test_signed_urls_tampered_or_expired_are_forbidden(client, anon_client, settings) -> None:
    pid = create_pool(client)
    a, b = _upload_n(client, pid, 2)
    path = f"/api/v1/images/{a}/content"
    q = signing.signed_query(settings, a, ttl_s=60)
    ok = anon_client.get(path, params=q)
    assert (ok.status_code, ok.content) == (200, image_bytes(seed=0))
    cases = {
        "other image": (f"/api/v1/images/{b}/content", q),
        "changed expiry": (path, {**q, "expires": str(int(q["expires"]) + 60)}),
        "changed sig": (path, {**q, "sig": "0" * 64}),
        "expired": (path, signing.signed_query(settings, a, ttl_s=10, now=1_000_000)),
        "only sig": (path, {"sig": q["sig"]}),
    }
    details = {}
    for name, (p, params) in cases.items():
        r = anon_client.get(p, params=params)
        assert r.status_code == 403, name
        details[name] = r.json()["detail"]
    assert details["other image"] == "invalid signature for this image and expiry"
    assert details["changed expiry"] == details["changed sig"] == details["other image"]
    assert details["expired"] == "signed URL has expired"
    assert details["only sig"] == "signed URL needs both 'expires' and 'sig'"
    missing = anon_client.get(
        "/api/v1/images/999/content", params=signing.signed_query(settings, 999)
    )
    assert missing.status_code == 404


def test_missing_content_file_is_404(client, settings) -> None:
    pid = create_pool(client)
    (iid,) = _upload_n(client, pid, 1)
    for f in settings.storage_dir.rglob("*.jpg"):
        f.unlink()
    r = client.get(f"/api/v1/images/{iid}/content")
    assert (r.status_code, r.json()["detail"]) == (
        404, f"the content of image {iid} is missing from storage"
    )  # fmt: skip
