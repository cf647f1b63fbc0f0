"""The storage contract, identical on the local and S3 backends (real moto server)."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from alp.services.uploads import StagedFiles
from alp.storage import Storage, StorageUnavailable


def test_put_get_stream_size_exists_delete(store: Storage) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB: several chunks
    store.put_bytes("pools/1/images/ab/x.jpg", data)
    assert store.exists("pools/1/images/ab/x.jpg")
    assert store.size("pools/1/images/ab/x.jpg") == len(data)
    assert store.read_bytes("pools/1/images/ab/x.jpg") == data
    chunks = list(store.iter_chunks("pools/1/images/ab/x.jpg", chunk_size=100_000))
    assert len(chunks) > 1 and b"".join(chunks) == data
    with store.open("pools/1/images/ab/x.jpg") as fh:
        assert fh.read(10) == data[:10]
        assert fh.read() == data[10:]
    store.put_bytes("pools/1/images/ab/x.jpg", b"new")  # overwrite
    assert store.read_bytes("pools/1/images/ab/x.jpg") == b"new"
    store.delete("pools/1/images/ab/x.jpg")
    assert not store.exists("pools/1/images/ab/x.jpg")
    assert store.size("pools/1/images/ab/x.jpg") is None
    store.delete("pools/1/images/ab/x.jpg")  # deleting a missing key is a no-op


def test_missing_key_raises_file_not_found(store: Storage) -> None:
    with pytest.raises(FileNotFoundError):
        store.open("pools/1/nothing.jpg")
    with pytest.raises(FileNotFoundError):
        store.read_bytes("pools/1/nothing.jpg")
    with pytest.raises(FileNotFoundError):
        store.download("pools/1/nothing.jpg", Path("/tmp/never-written"))


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "./a"])
def test_bad_keys_are_refused(store: Storage, key: str) -> None:
    with pytest.raises(ValueError):
        store.put_bytes(key, b"x")


def test_put_file_and_download(store: Storage, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"checkpoint" * 1000)
    store.put_file("pools/2/checkpoints/cycle-1.pt", src)
    dest = tmp_path / "dest.bin"
    store.download("pools/2/checkpoints/cycle-1.pt", dest)
    assert dest.read_bytes() == src.read_bytes()


def test_prefix_listing_and_delete(store: Storage) -> None:
    for key in ("pools/1/a.jpg", "pools/1/sub/b.jpg", "pools/10/c.jpg", "pools/2/d.jpg"):
        store.put_bytes(key, key.encode())
    assert sorted(store.iter_keys("pools/1")) == ["pools/1/a.jpg", "pools/1/sub/b.jpg"]
    objs = {k: (size, mtime) for k, size, mtime in store.iter_objects("pools")}
    assert objs["pools/10/c.jpg"][0] == len(b"pools/10/c.jpg") and objs["pools/2/d.jpg"][1] > 0
    store.delete_prefix("pools/1")  # not pools/10: prefixes are folders
    assert sorted(store.iter_keys("")) == ["pools/10/c.jpg", "pools/2/d.jpg"]


def test_failed_put_file_leaves_no_object(store: Storage, tmp_path: Path) -> None:
    with pytest.raises(OSError):
        store.put_file("pools/1/x.pt", tmp_path / "does-not-exist")
    assert not store.exists("pools/1/x.pt")
    assert list(store.iter_keys("")) == []


def test_staged_files_removed_when_the_request_fails(store: Storage) -> None:
    with pytest.raises(RuntimeError), StagedFiles(store) as staged:
        staged.put("pools/1/images/aa/a.jpg", b"a")
        staged.put("pools/1/images/bb/b.jpg", b"b")
        raise RuntimeError("the database insert failed")
    assert list(store.iter_keys("")) == []


def test_concurrent_writers_of_one_key_leave_one_whole_blob(store: Storage) -> None:
    payloads = [bytes([i]) * 300_000 for i in range(6)]
    threads = [
        threading.Thread(target=store.put_bytes, args=("pools/1/same.bin", p)) for p in payloads
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.read_bytes("pools/1/same.bin") in payloads


def test_check_passes_on_a_healthy_store(store: Storage) -> None:
    store.check()


def test_presigned_url_serves_the_bytes_on_s3_only(store: Storage) -> None:
    store.put_bytes("pools/1/p.jpg", b"\xff\xd8jpeg")
    url = store.presigned_url("pools/1/p.jpg", 60, "image/jpeg")
    if store.url.startswith("file:"):
        assert url is None
        return
    assert url is not None
    r = httpx.get(url)
    assert r.status_code == 200 and r.content == b"\xff\xd8jpeg"
    assert r.headers["content-type"] == "image/jpeg"


def test_s3_missing_bucket_and_unreachable_endpoint_say_why(s3_endpoint: str) -> None:
    from alp.storage.s3 import S3Storage
    from tests.support.s3 import free_port

    with pytest.raises(StorageUnavailable, match="does not exist"):
        S3Storage(f"s3://no-such-bucket-alp?endpoint_url={s3_endpoint}").check()
    dead = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(StorageUnavailable, match="unreachable"):
        S3Storage(f"s3://b?endpoint_url={dead}").check()


@pytest.mark.parametrize("url", ["file://relative/dir", "ftp://host/x", "s3://"])
def test_bad_storage_urls_are_refused(url: str) -> None:
    from alp.storage.factory import open_storage_url

    with pytest.raises(ValueError):
        open_storage_url(url)


def test_storage_url_defaults_to_the_storage_dir(tmp_path: Path) -> None:
    from alp.config import Settings
    from alp.storage import LocalStorage, open_storage

    s = Settings(data_dir=tmp_path)
    store = open_storage(s)
    assert isinstance(store, LocalStorage) and store.root == (tmp_path / "storage").resolve()


def test_open_sized_gives_stream_and_size(store: Storage) -> None:
    store.put_bytes("pools/1/s.bin", b"12345")
    fh, size = store.open_sized("pools/1/s.bin")
    with fh:
        assert (fh.read(), size) == (b"12345", 5)
    with pytest.raises(FileNotFoundError):
        store.open_sized("pools/1/none.bin")
