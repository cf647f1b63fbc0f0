"""Scoring's image decoding: a shard's image files decoded once per pass by a DataLoader
with the training loader's worker count (``TrainConfig.num_workers``: 0, i.e. decoding in
the scoring process, on the CPU and for ``tiny``; loader workers on CUDA), in order, one
batch of the scoring batch size at a time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch.utils.data import DataLoader, Dataset

from models.data import load_image


class ShardImages(Dataset):
    """Item ``i``: ``(i, (3, H, W) float tensor, None)``, or ``(i, None, reason)`` when
    ``paths[i]`` (a path or ``CachedBlob``) cannot be read or decoded."""

    def __init__(self, paths: Sequence[Any]) -> None:
        self.paths = list(paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[int, Any, str | None]:
        try:
            return index, load_image(self.paths[index]), None
        except (OSError, ValueError) as exc:  # load_image wraps decode errors
            return index, None, str(exc.__cause__ or exc)


def _as_list(items: list[Any]) -> list[Any]:
    return list(items)


def decoded_batches(paths: Sequence[Any], batch_size: int, num_workers: int) -> DataLoader:
    """Batches (lists of :class:`ShardImages` items, in order) of ``batch_size`` files."""
    return DataLoader(
        ShardImages(paths),
        batch_size=max(1, int(batch_size)),
        num_workers=max(0, int(num_workers)),
        collate_fn=_as_list,
    )
