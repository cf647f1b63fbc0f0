"""Helpers for the images/COCO API tests: tiny generated images, zips, storage listings."""

from __future__ import annotations

import io
import stat
import struct
import zipfile
import zlib
from pathlib import Path

from PIL import Image

from alp.config import Settings


def image_bytes(fmt: str = "JPEG", w: int = 32, h: int = 24, seed: int = 0) -> bytes:
    """A small image whose content (and hash) depends on ``seed``."""
    im = Image.new("RGB", (w, h), ((seed * 37) % 256, (seed * 91) % 256, (seed * 53) % 256))
    im.putpixel((seed % w, (seed // w) % h), (255 - (seed % 256), 0, 0))
    buf = io.BytesIO()
    im.save(buf, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue()


def png_header_only(w: int, h: int) -> bytes:
    """A PNG whose header claims ``w``x``h`` with almost no pixel data (a bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def zip_bytes(entries: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return buf.getvalue()


def stored_files(settings: Settings) -> list[str]:
    """Every file under the storage root (temp files included)."""
    assert settings.storage_dir is not None
    root = Path(settings.storage_dir)
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def create_pool(client, name: str = "p", classes: tuple[str, ...] = ("car", "bus")) -> int:
    r = client.post("/api/v1/pools", json={"name": name, "classes": list(classes)})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def upload(client, pool_id: int, files: list[tuple[str, bytes]], **data: str):
    return client.post(
        f"/api/v1/pools/{pool_id}/images",
        files=[("files", (name, content, "application/octet-stream")) for name, content in files],
        data=data,
    )


def all_images(client, pool_id: int) -> list[dict]:
    r = client.get(f"/api/v1/pools/{pool_id}/images", params={"limit": 1000})
    assert r.status_code == 200, r.text
    return r.json()["items"]
