"""Zip structure checks: traversal, symlinks, nested archives, limits, member reads."""

from __future__ import annotations

import gzip
import io
import zipfile

import pytest

from alp.services.uploads import Rejected
from alp.services.zips import ArchiveRejected, is_archive_bytes, open_zip, read_member
from tests.api.images_helpers import image_bytes, zip_bytes

LIMITS = {"max_total_bytes": 10_000_000, "max_members": 100}


def _open(data: bytes, **limits: int):
    return open_zip(io.BytesIO(data), **{**LIMITS, **limits})


def test_members_listed_and_junk_skipped() -> None:
    data = zip_bytes({"a.jpg": image_bytes(), "d/b.png": image_bytes("PNG"), "d/": b"",
                      "__MACOSX/d/._b.png": b"x", ".DS_Store": b"x"})  # fmt: skip
    zf, members = _open(data)
    with zf:
        assert [(m.path, m.name) for m in members] == [("a.jpg", "a.jpg"), ("d/b.png", "b.png")]
        assert read_member(zf, members[1], 1_000_000) == image_bytes("PNG")


@pytest.mark.parametrize(
    ("entries", "symlinks", "reason"),
    [
        ({"../evil.jpg": b"x"}, None, "'..' is not allowed"),
        ({"a/../../evil.jpg": b"x"}, None, "'..' is not allowed"),
        ({"/etc/evil.jpg": b"x"}, None, "absolute paths are not allowed"),
        ({"C:/evil.jpg": b"x"}, None, "absolute paths are not allowed"),
        ({"a\\..\\evil.jpg": b"x"}, None, "'..' is not allowed"),
        ({"ok.jpg": b"x"}, {"link.jpg": "/etc/passwd"}, "symlink member 'link.jpg'"),
        ({"inner.zip": b"x"}, None, "nested archive 'inner.zip'"),
        ({"inner.tar.gz": b"x"}, None, "nested archive 'inner.tar.gz'"),
    ],
)
def test_bad_archives_rejected_up_front(entries, symlinks, reason) -> None:
    with pytest.raises(ArchiveRejected) as err:
        _open(zip_bytes(entries, symlinks))
    assert reason in err.value.reason


def test_not_a_zip() -> None:
    with pytest.raises(ArchiveRejected, match="not a valid zip archive"):
        _open(b"PK\x03\x04 this is not really a zip")


def test_limits_on_members_and_uncompressed_total() -> None:
    data = zip_bytes({f"{i}.jpg": b"\0" * 1000 for i in range(3)})
    with pytest.raises(ArchiveRejected) as err:
        _open(data, max_members=2)
    assert (err.value.reason, err.value.status) == (
        "archive has 3 files, above the limit of 2",
        413,
    )
    with pytest.raises(ArchiveRejected) as err:
        _open(data, max_total_bytes=2999)
    assert err.value.reason == "archive uncompresses to 3000 bytes, above the limit of 2999 bytes"


def test_nested_archive_found_by_content() -> None:
    zf, members = _open(zip_bytes({"photo.jpg": gzip.compress(b"x" * 100)}))
    with zf, pytest.raises(ArchiveRejected, match=r"nested archive .photo\.jpg."):
        read_member(zf, members[0], 1_000_000)


def test_member_problems_reject_only_the_member() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("big.jpg", b"\0" * 2000)
        z.writestr("empty.jpg", b"")
    zf, members = _open(buf.getvalue())
    with zf:
        with pytest.raises(Rejected) as err:
            read_member(zf, members[0], 1000)
        assert not isinstance(err.value, ArchiveRejected)
        assert err.value.status == 413
        with pytest.raises(Rejected, match="empty file"):
            read_member(zf, members[1], 1000)


def test_corrupt_member_data() -> None:
    data = bytearray(zip_bytes({"a.jpg": image_bytes(w=64, h=64)}))
    idx = data.index(b"a.jpg") + 5  # first bytes of the compressed data
    data[idx : idx + 40] = b"\xaa" * 40
    zf, members = _open(bytes(data))
    with zf, pytest.raises(Rejected, match="corrupt zip member"):
        read_member(zf, members[0], 1_000_000)


def test_archive_magic() -> None:
    assert is_archive_bytes(b"PK\x03\x04rest") and is_archive_bytes(gzip.compress(b"x"))
    assert not is_archive_bytes(image_bytes()) and not is_archive_bytes(image_bytes("PNG"))
