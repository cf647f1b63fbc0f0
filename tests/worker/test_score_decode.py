"""Scoring's decoding loader: every file decoded once, in order, in batches of the scoring
batch size; an unreadable file yields its reason instead of an image; worker processes
give the same batches as decoding in-process."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from models.data import load_image
from worker.pipeline.decode import decoded_batches


def _files(tmp_path: Path, n: int) -> list[Path]:
    paths = []
    for i in range(n):
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (8 + i, 6), (10 * i, 0, 0)).save(path)
        paths.append(path)
    return paths


def test_batches_in_order_with_unreadable_files_named(tmp_path: Path) -> None:
    paths = _files(tmp_path, 5)
    paths[1].write_bytes(b"not an image")
    paths.append(tmp_path / "missing.png")
    batches = list(decoded_batches(paths, batch_size=4, num_workers=0))
    assert [[k for k, _, _ in b] for b in batches] == [[0, 1, 2, 3], [4, 5]]
    items = [item for b in batches for item in b]
    for k, image, error in items:
        if k in (1, 5):
            assert image is None and error
        else:
            assert error is None and torch.equal(image, load_image(paths[k]))


def test_loader_workers_give_the_same_batches(tmp_path: Path) -> None:
    paths = _files(tmp_path, 7)
    plain = list(decoded_batches(paths, batch_size=3, num_workers=0))
    workers = list(decoded_batches(paths, batch_size=3, num_workers=2))
    assert [len(b) for b in workers] == [3, 3, 1]
    for a, b in zip(plain, workers, strict=True):
        for (ka, ia, _), (kb, ib, _) in zip(a, b, strict=True):
            assert ka == kb and torch.equal(ia, ib)
