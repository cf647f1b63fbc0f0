"""alp.client.Client against httpx.MockTransport: retries with back-off on connection
errors, 5xx and 429 (Retry-After honoured), no retry on other 4xx, pagination, streamed
downloads, resumable uploads (known hashes are not sent)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from alp.client import ApiError, Client
from alp.client_transfer import collect


def _client(handler, sleeps: list[float] | None = None, **kw) -> Client:
    record = sleeps if sleeps is not None else []
    return Client("http://alp.test", "alp_k", transport=httpx.MockTransport(handler),
                  sleep=record.append, **kw)  # fmt: skip


POOL = {"id": 1, "name": "p", "classes": ["car"], "settings": {}, "counts": {}}


def test_retries_5xx_429_and_connection_errors_then_succeeds() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        n = len(seen)
        if n == 1:
            raise httpx.ConnectError("refused", request=request)
        if n == 2:
            return httpx.Response(503, json={"detail": "busy"})
        if n == 3:
            return httpx.Response(429, headers={"Retry-After": "2"}, json={"detail": "slow"})
        return httpx.Response(200, json=[POOL])

    sleeps: list[float] = []
    pools = _client(handler, sleeps, backoff=0.5).pools()
    assert [p.name for p in pools] == ["p"] and len(seen) == 4
    assert seen[0] == "Bearer alp_k"
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0  # exponential, jittered
    assert sleeps[2] == 2.0  # Retry-After


def test_gives_up_after_retries_with_the_servers_detail() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(500, json={"detail": "boom"})

    with pytest.raises(ApiError) as info:
        _client(handler, retries=3).pools()
    assert (info.value.status, info.value.detail, len(calls)) == (500, "boom", 4)


def test_client_errors_are_not_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(404, json={"detail": "pool 9 not found"})

    with pytest.raises(ApiError, match="pool 9 not found"):
        _client(handler).pool(9)
    assert len(calls) == 1


def test_pagination_follows_the_cursor() -> None:
    def img(i: int) -> dict:
        return {"id": i, "pool_id": 1, "sha256": "x", "filename": f"{i}.jpg", "width": 1,
                "height": 1, "state": "unlabeled", "split": "train"}  # fmt: skip

    def handler(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        assert request.url.params["limit"] == "2" and request.url.params["state"] == "unlabeled"
        if cursor is None:
            return httpx.Response(200, json={"items": [img(1), img(2)], "next_cursor": "c2"})
        assert cursor == "c2"
        return httpx.Response(200, json={"items": [img(3)], "next_cursor": None})

    ids = [i.id for i in _client(handler).iter_images(1, state="unlabeled", page_size=2)]
    assert ids == [1, 2, 3]


def test_download_streams_to_disk_and_retries(tmp_path: Path) -> None:
    body = b"z" * (3 << 20)
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(502)
        return httpx.Response(200, content=body)

    dest = _client(handler).export(1, "yolo", tmp_path / "out.zip")
    assert dest.read_bytes() == body and len(calls) == 2
    assert not (tmp_path / "out.zip.part").exists()


def test_upload_files_skips_known_hashes_and_reports_rejections(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"{i}.jpg").write_bytes(b"img%d" % i)
    (tmp_path / "notes.txt").write_text("not collected from a folder")
    known = hashlib.sha256(b"img0").hexdigest()
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/images/lookup"):
            hashes = json.loads(request.content)["sha256"]
            return httpx.Response(200, json={"known": {known: 7} if known in hashes else {}})
        names = [p.split(b'filename="')[1].split(b'"')[0].decode()
                 for p in request.content.split(b"\r\n") if b'filename="' in p]  # fmt: skip
        sent.extend(names)
        rejected = [{"filename": n, "reason": "not an image"} for n in names if n == "3.jpg"]
        accepted = [{"filename": n, "image_id": 1, "sha256": "s", "width": 1, "height": 1}
                    for n in names if n != "3.jpg"]  # fmt: skip
        return httpx.Response(201, json={"accepted": accepted, "duplicates": [],
                                         "rejected": rejected})  # fmt: skip

    progress: list[int] = []
    s = _client(handler).upload_files(1, [tmp_path], workers=2, on_progress=progress.append)
    assert sorted(sent) == ["1.jpg", "2.jpg", "3.jpg", "4.jpg"]  # 0.jpg is already there
    assert (s.files, s.skipped, s.accepted, sum(progress)) == (5, 1, 3, 4)
    assert s.rejected == [{"file": str(tmp_path / "3.jpg"), "reason": "not an image"}]


def test_collect_recursive_and_missing(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.png").write_bytes(b"a")
    (tmp_path / "sub" / "b.JPG").write_bytes(b"b")
    assert collect([tmp_path]) == [tmp_path / "a.png"]
    assert collect([tmp_path], recursive=True) == [tmp_path / "a.png", tmp_path / "sub/b.JPG"]
    with pytest.raises(FileNotFoundError):
        collect([tmp_path / "nope"])


def test_starting_a_cycle_is_not_retried_after_a_500_but_is_after_503() -> None:
    calls: list[int] = []
    statuses = [503, 500]

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(statuses[len(calls) - 1], json={"detail": "x"})

    with pytest.raises(ApiError) as info:
        _client(handler).start_cycle(1)
    assert info.value.status == 500 and len(calls) == 2  # 503 retried, 500 not

    def read_error(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ReadError("reset", request=request)

    calls.clear()
    with pytest.raises(ApiError):
        _client(read_error).start_cycle(1)
    assert len(calls) == 1  # it may have run: not sent again
