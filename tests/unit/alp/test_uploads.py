"""Image validation: accepted formats, every rejection reason, the pixel limit from the
header (never decoding a bomb), file names and staged-file cleanup."""

from __future__ import annotations

import pytest
from PIL import Image

from alp.services.uploads import Rejected, StagedFiles, check_size, probe_image, safe_filename
from alp.storage import LocalStorage
from tests.api.images_helpers import image_bytes, png_header_only

LIMIT = 64_000_000


@pytest.mark.parametrize(
    ("fmt", "ext", "ctype"),
    [("JPEG", "jpg", "image/jpeg"), ("PNG", "png", "image/png"),
     ("WEBP", "webp", "image/webp"), ("BMP", "bmp", "image/bmp")],
)  # fmt: skip
def test_accepts_supported_formats(fmt: str, ext: str, ctype: str) -> None:
    info = probe_image(image_bytes(fmt, 40, 30), LIMIT)
    assert (info.format, info.width, info.height) == (fmt, 40, 30)
    assert (info.ext, info.content_type) == (ext, ctype)


def _truncated(fmt: str) -> bytes:
    data = image_bytes(fmt, 64, 48, seed=5)
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file (0 bytes)"),
        (b"hello, I am a text file", "not a JPEG, PNG, WebP or BMP image"),
        (image_bytes("GIF"), "not a JPEG, PNG, WebP or BMP image"),
        (image_bytes("TIFF"), "not a JPEG, PNG, WebP or BMP image"),
        (_truncated("JPEG"), "corrupt"),
        (_truncated("PNG"), "corrupt or truncated image data"),
        (_truncated("BMP"), "corrupt or truncated image data"),
        (image_bytes("PNG")[:20], "corrupt"),
        (image_bytes("JPEG", 200, 100)[:-200], "corrupt or truncated image data"),
    ],
    ids=["empty", "text", "gif", "tiff", "trunc-jpeg", "trunc-png", "trunc-bmp", "header-only",
         "garbage-jpeg"],
)  # fmt: skip
def test_rejections(data: bytes, reason: str) -> None:
    with pytest.raises(Rejected) as err:
        probe_image(data, LIMIT)
    assert reason in err.value.reason
    assert err.value.status == 422


def test_pixel_limit_checked_from_header_without_decoding(monkeypatch) -> None:
    def boom(self):  # pragma: no cover - must not run
        raise AssertionError("a decompression bomb must not be decoded")

    monkeypatch.setattr(Image.Image, "load", boom)
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", boom)
    with pytest.raises(Rejected) as err:
        probe_image(png_header_only(10_000, 8_000), LIMIT)
    assert err.value.reason == (
        "image is 10000x8000 = 80000000 pixels, above the limit of 64000000 pixels"
    )
    assert err.value.status == 413
    with pytest.raises(Rejected) as err:  # beyond Pillow's own hard limit too
        probe_image(png_header_only(50_000, 50_000), LIMIT)
    assert "too many pixels" in err.value.reason


def test_pixel_limit_is_a_setting() -> None:
    assert probe_image(image_bytes("PNG", 10, 10), 100).width == 10
    with pytest.raises(Rejected, match="10x11 = 110 pixels, above the limit of 100"):
        probe_image(image_bytes("PNG", 10, 11), 100)


def test_check_size() -> None:
    check_size(10, 10)
    with pytest.raises(Rejected, match="empty file"):
        check_size(0, 10)
    with pytest.raises(Rejected) as err:
        check_size(11, 10)
    assert (err.value.reason, err.value.status) == (
        "file is 11 bytes, above the limit of 10 bytes",
        413,
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("a.jpg", "a.jpg"), ("dir/sub/b.png", "b.png"), ("C:\\x\\c.jpg", "c.jpg"),
     ("../..", "fallback"), (None, "fallback"), ("a\x00b\n.jpg", "ab.jpg"),
     ("x" * 300 + ".jpeg", "x" * 250 + ".jpeg")],
)  # fmt: skip
def test_safe_filename(raw: str | None, expected: str) -> None:
    assert safe_filename(raw, "fallback") == expected


def test_staged_files_deleted_on_error_kept_on_success(tmp_path) -> None:
    storage = LocalStorage(tmp_path)
    with pytest.raises(RuntimeError), StagedFiles(storage) as staged:
        staged.put("a/x.bin", b"1")
        assert storage.exists("a/x.bin")
        raise RuntimeError("commit failed")
    assert not storage.exists("a/x.bin")
    with StagedFiles(storage) as staged:
        staged.put("a/y.bin", b"2")
    assert storage.exists("a/y.bin")


class _Flaky(LocalStorage):
    """Fails the write of one key after a delay (the other writes are under way)."""

    def put_bytes(self, key: str, data: bytes) -> None:
        if key == "a/bad.bin":
            import time

            time.sleep(0.05)  # a slow failing request, not a synchronisation
            raise OSError("store refused")
        super().put_bytes(key, data)


def test_put_all_writes_concurrently_and_a_failure_leaves_nothing(tmp_path) -> None:
    storage = _Flaky(tmp_path)
    blobs = [(f"a/{i}.bin", bytes([i])) for i in range(30)]
    with StagedFiles(storage) as staged:
        staged.put_all(blobs, [("a/big.bin", lambda: b"reread")])
    assert all(storage.exists(k) for k, _ in blobs) and storage.exists("a/big.bin")
    bad = [(f"b/{i}.bin", b"y") for i in range(30)]
    bad.insert(10, ("a/bad.bin", b"x"))
    with pytest.raises(OSError, match="store refused"), StagedFiles(storage) as staged:
        staged.put_all(bad, [("b/big.bin", lambda: b"reread")])
    assert not list(storage.iter_keys("b")), "a failed request left blobs behind"
    assert len(list(storage.iter_keys("a"))) == 31


def test_exif_rotated_jpeg_reports_upright_size() -> None:
    import io

    from PIL import Image

    from alp.services.uploads import probe_image

    im = Image.new("RGB", (40, 20), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif)
    info = probe_image(buf.getvalue(), 10_000)
    assert (info.width, info.height) == (20, 40)
