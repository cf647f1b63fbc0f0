"""torchvision's pretrained detector weights in torchvision's own cache.

Files live where torchvision looks for them: ``<hub dir>/checkpoints/<file name of the
weights URL>`` (``torch.hub.get_dir()``, i.e. ``$TORCH_HOME/hub`` unless set otherwise).
torchvision's file names end in ``-<first hex digits of the file's SHA-256>.pth``; that
prefix is what :func:`import_file` checks, as ``torch.hub`` does on download.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from models.config import DetectorConfig

HASH_RE = re.compile(r"-([a-f0-9]+)\.")
GROUPS = ("standard", "fast", "all")


class MissingWeightsError(RuntimeError):
    """The pretrained weights a detector needs are not in the cache (and were not
    downloaded). ``file`` is where they belong."""

    def __init__(self, file: Path, group: str) -> None:
        self.file = file
        super().__init__(
            f"pretrained weights {file.name} are missing from {file.parent} and could not be "
            f"downloaded; run `alp weights fetch {group}` on a machine with internet, or copy "
            f"the file here and run `alp weights import {file.name}`"
        )


def known_weights() -> dict[str, Any]:
    """File name -> torchvision ``WeightsEnum`` member, for every detector alp builds."""
    from torchvision.models import detection as tvd

    members = [
        tvd.FasterRCNN_ResNet50_FPN_V2_Weights.COCO_V1,
        tvd.FasterRCNN_ResNet50_FPN_Weights.COCO_V1,
        tvd.FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1,
        tvd.RetinaNet_ResNet50_FPN_Weights.COCO_V1,
    ]
    return {file_name(m): m for m in members}


def group_weights(group: str) -> list[Any]:
    """The weights a profile needs (its Faster R-CNN and its RetinaNet), or ``all``."""
    from torchvision.models import detection as tvd

    retina = tvd.RetinaNet_ResNet50_FPN_Weights.COCO_V1
    if group == "standard":
        return [tvd.FasterRCNN_ResNet50_FPN_V2_Weights.COCO_V1, retina]
    if group == "fast":
        return [tvd.FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1, retina]
    if group == "all":
        return list(known_weights().values())
    raise ValueError(f"unknown weights group {group!r}; choose one of {', '.join(GROUPS)}")


def file_name(weights: Any) -> str:
    """torchvision's cache file name of a ``WeightsEnum`` member (the URL's last part)."""
    return os.path.basename(weights.url)


def cache_dir(hub_dir: str | Path | None = None) -> Path:
    """``<hub dir>/checkpoints``: ``hub_dir`` or ``torch.hub.get_dir()``."""
    if hub_dir is None:
        import torch

        hub_dir = torch.hub.get_dir()
    return Path(hub_dir) / "checkpoints"


def cached_file(weights: Any, hub_dir: str | Path | None = None) -> Path:
    return cache_dir(hub_dir) / file_name(weights)


def needed(cfg: DetectorConfig) -> Any:
    """The COCO ``WeightsEnum`` member ``cfg`` loads, or None (no COCO weights)."""
    from models.tv_detectors import coco_weights

    return coco_weights(cfg) if cfg.weights == "coco" else None


def ensure(weights: Any, group: str, download: bool, hub_dir: str | Path | None = None,
           progress: bool = False) -> Path:  # fmt: skip
    """The cached file of ``weights``; downloaded first when missing and ``download``.
    ``MissingWeightsError`` (naming the file and both commands) when it stays missing."""
    path = cached_file(weights, hub_dir)
    if path.is_file():
        return path
    if download:
        try:
            return fetch(weights, hub_dir, progress=progress)
        except OSError:
            pass
    raise MissingWeightsError(path, group)


def fetch(weights: Any, hub_dir: str | Path | None = None, progress: bool = True) -> Path:
    """Download ``weights`` into the cache (hash checked by ``torch.hub``); returns the file.
    ``OSError`` (e.g. ``URLError``) when offline."""
    import torch

    path = cached_file(weights, hub_dir)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = HASH_RE.search(path.name)
    torch.hub.download_url_to_file(
        weights.url, str(path), hash_prefix=prefix.group(1) if prefix else None,
        progress=progress,
    )  # fmt: skip
    return path


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def import_file(src: str | Path, hub_dir: str | Path | None = None,
                known: Iterable[str] | None = None) -> Path:  # fmt: skip
    """Install a downloaded weight file into the cache under torchvision's name.

    The file's SHA-256 must start with the hash prefix of one of the known file names
    (any name is accepted for ``src``: the content decides). ``ValueError`` otherwise;
    nothing is written then. Returns the installed path.
    """
    src = Path(src)
    if not src.is_file():
        raise FileNotFoundError(f"no such file: {src}")
    names = list(known if known is not None else known_weights())
    digest = sha256_of(src)
    match = [n for n in names if (m := HASH_RE.search(n)) and digest.startswith(m.group(1))]
    if not match:
        same = [n for n in names if n == src.name]
        why = (f"{src.name} has SHA-256 {digest[:12]}…, not the published hash of that file "
               "(a corrupt or partial download?)" if same else
               f"{src.name} (SHA-256 {digest[:12]}…) is none of torchvision's files "
               f"{', '.join(names)}")  # fmt: skip
        raise ValueError(why)
    dest = cache_dir(hub_dir) / match[0]
    dest.parent.mkdir(parents=True, exist_ok=True)
    return write_atomically(dest, lambda tmp: shutil.copyfile(src, tmp))


def write_atomically(dest: Path, write: Callable[[str], object]) -> Path:
    """``write(tmp)`` to a temporary file beside ``dest``, then rename it to ``dest`` (readers
    see the old file or the whole new one, never a partial one); the temporary file is
    removed if anything fails. Returns ``dest``."""
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name, suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dest
