"""Bounded-memory decoding: the byte-weighted FIFO budget and reduced decodes."""

from __future__ import annotations

import io
import threading

import pytest
from PIL import Image

from alp.services import decoding, uploads
from tests.support.processes import wait_for


def _open(im: Image.Image, fmt: str, **kw) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return Image.open(io.BytesIO(buf.getvalue()))


def _hold(budget: decoding.DecodeBudget, nbytes: int, release: threading.Event, log: list):
    def run() -> None:
        with budget.reserve(nbytes):
            log.append(nbytes)
            release.wait(10)

    t = threading.Thread(target=run)
    t.start()
    return t


def test_budget_waits_for_room_in_fifo_order_and_runs_oversize_alone() -> None:
    b = decoding.DecodeBudget(100)
    log: list[int] = []
    first, second, third = threading.Event(), threading.Event(), threading.Event()
    t1 = _hold(b, 60, first, log)
    wait_for(lambda: log == [60], what="first reservation")
    t2 = _hold(b, 250, second, log)  # larger than the whole budget: waits for an empty one
    wait_for(lambda: len(b._line) == 1, what="oversize request queued")
    t3 = _hold(b, 10, third, log)  # would fit now, but waits behind the oversize one (FIFO)
    wait_for(lambda: len(b._line) == 2, what="small request queued")
    assert log == [60] and b.in_use == 60
    first.set()
    wait_for(lambda: log == [60, 250], what="oversize request running alone")
    assert b.in_use == 250
    second.set()
    wait_for(lambda: log == [60, 250, 10], what="small request")
    third.set()
    for t in (t1, t2, t3):
        t.join(10)
    assert (b.in_use, b.peak) == (0, 250)


def test_process_budget_takes_the_setting() -> None:
    b = decoding.budget(123 * 1024 * 1024)
    assert b is decoding.budget() and b.capacity == 123 * 1024 * 1024
    decoding.budget(512 * 1024 * 1024)


@pytest.mark.parametrize("mode", ["RGBA", "RGB", "LA", "L", "P", "1", "I;16"])
def test_decode_small_fits_and_reserves_its_cost(mode: str) -> None:
    im = _open(Image.new(mode, (1500, 1000)), "PNG")
    b = decoding.DecodeBudget(10**9)
    cost = decoding.decode_cost(im)
    out = decoding.decode_small(im, 256, b)
    assert (out.mode, out.size) == ("RGB", (256, 171))
    assert b.peak == cost >= 1500 * 1000


def test_jpeg_is_decoded_at_reduced_scale_and_upright() -> None:
    src = Image.new("RGB", (4000, 2000), "white")
    src.paste((255, 0, 0), (0, 0, 400, 400))  # red top-left corner
    exif = Image.Exif()
    exif[decoding.EXIF_ORIENTATION] = 6  # display rotated 90° clockwise
    im = _open(src, "JPEG", exif=exif.tobytes())
    b = decoding.DecodeBudget(10**9)
    out = decoding.decode_small(im, 256, b)
    assert b.peak <= 1000 * 500 * 4  # 1/4 scale: 4000x2000 never decoded in full
    assert out.size == (128, 256)  # upright: portrait
    r, g, _ = out.getpixel((120, 5))  # the red corner is now top-right
    assert r > 200 and g < 60


def test_probe_makes_previews_of_large_images_only(monkeypatch) -> None:
    monkeypatch.setattr(decoding, "PREVIEW_MIN_PIXELS", 600 * 600)
    big = io.BytesIO()
    Image.new("RGBA", (1200, 800), (0, 0, 255, 128)).save(big, "PNG")
    info = uploads.probe_image(big.getvalue(), 10**8, previews=True)
    assert (info.width, info.height) == (1200, 800)
    assert info.preview is not None
    assert Image.open(io.BytesIO(info.preview)).size == (512, 341)
    assert uploads.probe_image(big.getvalue(), 10**8).preview is None  # not asked for
    small = io.BytesIO()
    Image.new("RGB", (500, 500)).save(small, "PNG")
    assert uploads.probe_image(small.getvalue(), 10**8, previews=True).preview is None


def test_corrupt_pixel_data_is_still_found_with_previews(monkeypatch) -> None:
    monkeypatch.setattr(decoding, "PREVIEW_MIN_PIXELS", 100)
    buf = io.BytesIO()
    Image.effect_noise((800, 600), 40).convert("RGB").save(buf, "JPEG")
    data = buf.getvalue()
    with pytest.raises(uploads.Rejected, match="corrupt or truncated"):
        uploads.probe_image(data[: len(data) // 2], 10**8, previews=True)
