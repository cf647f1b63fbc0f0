"""Zip archives of images: structural checks before anything is extracted.

An archive is refused as a whole (:class:`ArchiveRejected`) when it is not a zip, has a
member whose path is absolute or climbs out with ``..``, has a symlink member, contains a
nested archive (by name up front, or by content when the member is read), has more than
``max_members`` files, or declares more than ``max_total_bytes`` uncompressed. Python's
``zipfile`` never returns more than a member's declared size (a lying header fails its CRC),
so the declared sizes are a safe upper bound. Directories, ``__MACOSX/`` and dot-files are
skipped silently. Nothing is extracted to disk; members are read into memory one at a time.
"""

from __future__ import annotations

import re
import stat
import zipfile
from dataclasses import dataclass
from typing import BinaryIO

from alp.services.uploads import Rejected, check_size

NESTED_EXTENSIONS = (
    ".zip", ".jar", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".zst", ".7z", ".rar", ".lz4",
)  # fmt: skip
_MAGIC = (
    b"PK\x03\x04",  # zip
    b"PK\x05\x06",  # empty zip
    b"\x1f\x8b",  # gzip
    b"BZh",  # bzip2
    b"\xfd7zXZ\x00",  # xz
    b"7z\xbc\xaf\x27\x1c",  # 7z
    b"Rar!\x1a\x07",  # rar
    b"\x28\xb5\x2f\xfd",  # zstd
)
_DRIVE = re.compile(r"^[A-Za-z]:")


class ArchiveRejected(Rejected):
    """The whole archive is refused (no member of it is stored)."""


@dataclass(frozen=True)
class Member:
    """One file of an archive: ``path`` inside the archive, ``name`` its base name."""

    info: zipfile.ZipInfo
    path: str

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def size(self) -> int:
        return self.info.file_size


def looks_like_zip(head: bytes) -> bool:
    """True when the first bytes are a zip local-file or empty-archive signature."""
    return head.startswith((b"PK\x03\x04", b"PK\x05\x06"))


def is_archive_bytes(head: bytes) -> bool:
    """True when ``head`` starts with the signature of a common archive/compressed format."""
    return head.startswith(_MAGIC) or head[257:262] == b"ustar"


def _check_path(path: str) -> None:
    if "\x00" in path or path.startswith(("/", "\\")) or _DRIVE.match(path):
        raise ArchiveRejected(f"unsafe member path {path!r}: absolute paths are not allowed")
    if any(part == ".." for part in re.split(r"[\\/]", path)):
        raise ArchiveRejected(f"unsafe member path {path!r}: '..' is not allowed")


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _skipped(path: str) -> bool:
    parts = path.split("/")
    return parts[0] == "__MACOSX" or parts[-1].startswith(".")


def open_zip(
    fh: BinaryIO, *, max_total_bytes: int, max_members: int
) -> tuple[zipfile.ZipFile, list[Member]]:
    """Open ``fh`` (seekable) as a zip and return it with the members to process.

    Raises :class:`ArchiveRejected` for every whole-archive problem listed in the module
    docstring. The caller closes the returned ``ZipFile``.
    """
    try:
        zf = zipfile.ZipFile(fh)
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise ArchiveRejected(f"not a valid zip archive ({exc})") from exc
    try:
        members: list[Member] = []
        total = 0
        for info in infos:
            path = info.filename
            _check_path(path)
            if _is_symlink(info):
                raise ArchiveRejected(f"symlink member {path!r} is not allowed")
            if info.is_dir() or _skipped(path):
                continue
            if path.lower().endswith(NESTED_EXTENSIONS):
                raise ArchiveRejected(f"nested archive {path!r} is not allowed")
            members.append(Member(info=info, path=path))
            total += info.file_size
        if len(members) > max_members:
            raise ArchiveRejected(
                f"archive has {len(members)} files, above the limit of {max_members}", 413
            )
        if total > max_total_bytes:
            raise ArchiveRejected(
                f"archive uncompresses to {total} bytes, above the limit of "
                f"{max_total_bytes} bytes",
                413,
            )
    except BaseException:
        zf.close()
        raise
    return zf, members


def read_member(zf: zipfile.ZipFile, member: Member, max_bytes: int) -> bytes:
    """Bytes of one member (≤ ``max_bytes``).

    Raises :class:`Rejected` for that member (too large, encrypted, corrupt, unsupported
    compression) or :class:`ArchiveRejected` if its content is itself an archive.
    """
    check_size(member.size, max_bytes)
    if member.info.flag_bits & 0x1:
        raise Rejected("encrypted zip member (passwords are not supported)")
    try:
        data = zf.read(member.info)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError) as exc:
        raise Rejected(f"corrupt zip member ({exc})") from exc
    except Exception as exc:  # zlib.error, lzma.LZMAError, ...
        raise Rejected(f"corrupt zip member ({type(exc).__name__}: {exc})") from exc
    if is_archive_bytes(data[:512]):
        raise ArchiveRejected(f"nested archive {member.path!r} is not allowed")
    return data
