"""Manifest dataset, flip augmentation, collate, synthetic generator and COCO read/write."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from models.data import DetectionDataset, collate, generate, generate_coco, hflip, read_coco
from models.data.synthetic import class_weights


def test_dataset_items_and_empty_images(synthetic_samples: list[dict]) -> None:
    ds = DetectionDataset(synthetic_samples)
    image, target = ds[5]  # emptied by the fixture
    assert image.shape == (3, 64, 64) and image.dtype == torch.float32
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    assert target["boxes"].shape == (0, 4) and target["labels"].shape == (0,)
    image, target = ds[0]
    assert target["boxes"].shape == (len(synthetic_samples[0]["labels"]), 4)
    assert target["labels"].dtype == torch.int64
    images, targets = collate([ds[0], ds[5]])
    assert len(images) == 2 and targets[1]["image_id"] == 5


def test_dataset_loads_paths_and_clips_boxes(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    Image.new("RGB", (40, 30), (255, 0, 0)).save(path)
    ds = DetectionDataset([{"path": path, "boxes": [[-5, 2, 50, 20]], "labels": [1]}])
    image, target = ds[0]
    assert image.shape == (3, 30, 40)
    assert torch.allclose(image[0], torch.ones(30, 40))
    assert target["boxes"].tolist() == [[0.0, 2.0, 40.0, 20.0]]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"boxes": [[0, 0, 1, 1]], "labels": [0]}, "needs 'path' or 'image'"),
        ({"image": torch.zeros(3, 8, 8), "boxes": [[0, 0, 1, 1]], "labels": []}, "labels"),
        ({"image": torch.zeros(3, 8, 8), "boxes": [[5, 0, 1, 1]], "labels": [0]}, "x2 > x1"),
        ({"image": torch.zeros(3, 8, 8), "boxes": [[0, 0, 1, 1]], "labels": [-1]}, "labels"),
        ({"image": torch.zeros(3, 8, 8), "boxes": [[0, 0, 1, 1]], "labels": [3]}, "labels"),
    ],
)
def test_invalid_manifest_entries_raise(entry: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DetectionDataset([entry], num_classes=3)


def test_undecodable_image_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"bad\.png"):
        DetectionDataset([{"path": bad}])[0]


def test_hflip_maps_boxes_and_pixels() -> None:
    image = torch.zeros(3, 4, 10)
    image[:, :, 1] = 1.0  # column 1 -> column 8 after the flip
    flipped, boxes = hflip(image, torch.tensor([[1.0, 0.0, 3.0, 2.0]]))
    assert boxes.tolist() == [[7.0, 0.0, 9.0, 2.0]]
    assert float(flipped[0, 0, 8]) == 1.0 and float(flipped[0, 0, 1]) == 0.0


def test_dataset_flip_probability_and_get_without_augmentation(synthetic_samples: list) -> None:
    ds = DetectionDataset(synthetic_samples[:1], hflip_prob=1.0)
    image, target = ds[0]
    plain_image, plain_target = ds.get(0, augment=False)
    assert torch.equal(image, plain_image.flip(-1))
    assert torch.allclose(target["boxes"][:, 0], 64 - plain_target["boxes"][:, 2])


def test_synthetic_is_deterministic_and_boxes_are_valid() -> None:
    a = generate(6, size=96, classes=("circle", "square", "triangle", "ring"), seed=3)
    b = generate(6, size=96, classes=("circle", "square", "triangle", "ring"), seed=3)
    c = generate(6, size=96, classes=("circle", "square", "triangle", "ring"), seed=4)
    assert [s["boxes"] for s in a] == [s["boxes"] for s in b]
    assert np.array_equal(np.asarray(a[0]["image"]), np.asarray(b[0]["image"]))
    assert [s["boxes"] for s in a] != [s["boxes"] for s in c]
    for sample in a:
        assert sample["image"].size == (96, 96)
        for x1, y1, x2, y2 in sample["boxes"]:
            assert 0 <= x1 < x2 <= 96 and 0 <= y1 < y2 <= 96
        assert all(0 <= lab < 4 for lab in sample["labels"])


def test_synthetic_objects_are_drawn_inside_their_boxes() -> None:
    sample = generate(
        1,
        size=64,
        classes=("square",),
        seed=1,
        min_objects=1,
        max_objects=1,
        noise=0.0,
        clutter=0,
        as_tensor=True,
    )[0]
    x1, y1, x2, y2 = (int(v) for v in sample["boxes"][0])
    image = sample["image"]
    inside = image[:, y1 + 1 : y2 - 1, x1 + 1 : x2 - 1]
    assert inside.std(dim=(1, 2)).max() < 1e-6  # a filled square of one colour


def test_synthetic_imbalance_and_empty_images() -> None:
    samples = generate(
        200,
        size=32,
        seed=0,
        imbalance=20.0,
        min_objects=1,
        max_objects=1,
        scale=(0.3, 0.5),
        empty_fraction=0.25,
        clutter=0,
    )
    counts = Counter(label for s in samples for label in s["labels"])
    assert counts[0] > 3 * counts[2]
    empty = sum(1 for s in samples if not s["boxes"])
    assert 25 <= empty <= 80
    np.testing.assert_allclose(class_weights(3, [1, 1, 2]), [0.25, 0.25, 0.5])
    with pytest.raises(ValueError, match="classes"):
        generate(1, classes=("dragon",))


def test_coco_write_read_round_trip(tmp_path: Path) -> None:
    classes = ("circle", "square", "triangle")
    json_path = generate_coco(
        tmp_path / "ds", 5, classes=classes, size=48, seed=2, empty_fraction=0.3
    )
    manifest, names = read_coco(json_path)
    assert names == list(classes)
    original = generate(5, size=48, classes=classes, seed=2, empty_fraction=0.3)
    assert len(manifest) == 5
    for entry, sample in zip(manifest, original, strict=True):
        assert Path(entry["path"]).is_file()
        np.testing.assert_allclose(
            np.array(entry["boxes"]).reshape(-1, 4), np.array(sample["boxes"]).reshape(-1, 4)
        )
        assert entry["labels"] == sample["labels"]
    image, _ = DetectionDataset(manifest)[0]
    expected = torch.from_numpy(np.array(original[0]["image"])).permute(2, 0, 1) / 255.0
    assert torch.allclose(image, expected)


def test_load_image_applies_exif_orientation(tmp_path) -> None:
    from PIL import Image

    from models.data.dataset import load_image

    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated by 90°
    path = tmp_path / "rot.jpg"
    Image.new("RGB", (40, 20), "blue").save(path, "JPEG", exif=exif)
    assert tuple(load_image(path).shape) == (3, 40, 20)
