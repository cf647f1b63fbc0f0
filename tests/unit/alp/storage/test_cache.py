"""The workers' bounded LRU blob cache, over a real S3 server."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

from PIL import Image as PILImage

from alp.storage import BlobCache
from alp.storage.factory import open_storage_url


def test_each_blob_is_downloaded_once_while_it_fits(s3_url: str, tmp_path: Path) -> None:
    store = open_storage_url(s3_url)
    for i in range(5):
        store.put_bytes(f"pools/1/images/{i}.bin", bytes([i]) * 1000)
    cache = BlobCache(store, tmp_path / "cache", max_bytes=10_000)
    for _ in range(3):
        for i in range(5):
            assert cache.fetch(f"pools/1/images/{i}.bin").read_bytes() == bytes([i]) * 1000
    assert cache.downloads == 5
    assert cache.usage() == 5000


def test_size_limit_is_respected_evicting_least_recently_used(s3_url: str, tmp_path: Path) -> None:
    store = open_storage_url(s3_url)
    for i in range(10):
        store.put_bytes(f"k/{i}.bin", b"x" * 1000)
    cache = BlobCache(store, tmp_path / "cache", max_bytes=3500)
    for i in range(10):
        cache.fetch(f"k/{i}.bin")
        assert cache.usage() <= 3500
        os.utime(cache.fetch(f"k/{i}.bin"), (1e9 + i, 1e9 + i))  # distinct LRU stamps
    cache.fetch("k/7.bin")  # a hit: most recent now
    os.utime(cache.fetch("k/7.bin"), (2e9, 2e9))
    cache.fetch("k/0.bin")  # a miss: evicts the oldest (8), keeps the recently used 7
    assert cache.downloads == 11
    cached = sorted(p.name for p in cache.root.rglob("*.bin"))
    assert cached == ["0.bin", "7.bin", "9.bin"]


def test_missing_blob_raises_and_leaves_no_temp_file(s3_url: str, tmp_path: Path) -> None:
    cache = BlobCache(open_storage_url(s3_url), tmp_path / "cache", max_bytes=10_000)
    try:
        cache.fetch("k/none.jpg")
    except FileNotFoundError:
        pass
    else:
        raise AssertionError("expected FileNotFoundError")
    assert [p for p in cache.root.rglob("*") if p.is_file()] == []


def test_cached_blob_is_a_path_for_pillow_and_survives_pickling(
    s3_url: str, tmp_path: Path
) -> None:
    import io

    store = open_storage_url(s3_url)
    buf = io.BytesIO()
    PILImage.new("RGB", (7, 5)).save(buf, format="PNG")
    store.put_bytes("pools/1/images/a.png", buf.getvalue())
    cache = BlobCache(store, tmp_path / "cache", max_bytes=10_000)
    blob = cache.blob("pools/1/images/a.png")
    assert str(blob) == "pools/1/images/a.png"  # host-independent (training fingerprints)
    with PILImage.open(blob) as im:
        assert im.size == (7, 5)
    again = pickle.loads(pickle.dumps(blob))
    with PILImage.open(again) as im:
        assert im.size == (7, 5)


def test_local_store_is_passed_through_without_copies(tmp_path: Path) -> None:
    store = open_storage_url((tmp_path / "store").as_uri())
    store.put_bytes("a/b.bin", b"x")
    cache = BlobCache(store, tmp_path / "cache", max_bytes=1)
    assert cache.fetch("a/b.bin").read_bytes() == b"x"
    assert cache.downloads == 0 and not (tmp_path / "cache").exists()
