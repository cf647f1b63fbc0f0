"""Per-box feature pooling (``models.box_features``) on hand-made feature maps: level
choice, position, centre sampling, image borders, empty inputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.ops import MultiScaleRoIAlign

from models.box_features import feature_levels, level_scales, pool_box_features, to_transformed


def _constant(batch: int, vector: list[float], size: int) -> torch.Tensor:
    return torch.tensor(vector).view(1, -1, 1, 1).expand(batch, -1, size, size).contiguous()


def test_each_box_is_pooled_on_its_fpn_level() -> None:
    # 448-px image, strides 4 and 8 (levels 2 and 3): small boxes -> level 2, big -> level 3
    feats = {"0": _constant(1, [1.0, 0.0], 112), "1": _constant(1, [0.0, 1.0], 56)}
    assert level_scales(list(feats.values()), [(448, 448)]) == [0.25, 0.125]
    boxes = torch.tensor([[10.0, 10.0, 26.0, 26.0], [0.0, 0.0, 200.0, 200.0]])
    out = pool_box_features(feats, [boxes], [(448, 448)], ["0", "1"])[0]
    torch.testing.assert_close(out, torch.tensor([[1.0, 0.0], [0.0, 1.0]]))


def test_features_come_from_the_box_position_and_batch_item() -> None:
    # channel k is 1 in quadrant k of image 0; image 1 is the mirror image (left <-> right)
    fmap = torch.zeros(2, 4, 16, 16)
    for k, (ys, xs) in enumerate(
        [
            (slice(0, 8), slice(0, 8)),
            (slice(0, 8), slice(8, 16)),
            (slice(8, 16), slice(0, 8)),
            (slice(8, 16), slice(8, 16)),
        ]
    ):
        fmap[0, k, ys, xs] = 1.0
    fmap[1] = fmap[0].flip(-1)
    top_left, bottom_right = [4.0, 4.0, 24.0, 24.0], [36.0, 40.0, 60.0, 60.0]  # 64-px images
    boxes = [torch.tensor([top_left, bottom_right]), torch.tensor([top_left])]
    out = pool_box_features({"0": fmap}, boxes, [(64, 64), (64, 64)], ["0"])
    torch.testing.assert_close(out[0], torch.eye(4)[[0, 3]])
    torch.testing.assert_close(out[1], torch.eye(4)[[1]])


def test_centre_mode_samples_the_box_centre() -> None:
    # channel 0 = column index j (feature pixel j covers image x in [2j, 2j + 2)), channel 1 = 10
    fmap = torch.stack([torch.arange(32.0).expand(32, 32), torch.full((32, 32), 10.0)])[None]
    box = torch.tensor([[20.0, 4.0, 30.0, 60.0]])  # centre x = 25 -> feature x 12.5 - 0.5 = 12
    out = pool_box_features({"0": fmap}, [box], [(64, 64)], ["0"], mode="centre")[0]
    torch.testing.assert_close(out, torch.nn.functional.normalize(torch.tensor([[12.0, 10.0]])))


def test_boxes_on_the_image_border_still_get_features() -> None:
    fmap = torch.rand(1, 8, 8, 10, generator=torch.Generator().manual_seed(0)) + 0.1
    sliver = torch.tensor([[79.5, 10.0, 80.0, 50.0], [0.0, 63.6, 40.0, 64.0]])  # 64x80 image
    out = pool_box_features({"0": fmap}, [sliver], [(64, 80)], ["0"])[0]
    torch.testing.assert_close(out.norm(dim=1), torch.ones(2))


def test_empty_inputs_and_bad_arguments() -> None:
    fmap = torch.rand(2, 5, 4, 4)
    none = [torch.zeros(0, 4), torch.zeros(0, 4)]
    out = pool_box_features({"0": fmap}, none, [(32, 32)] * 2, ["0"])
    assert [o.shape for o in out] == [(0, 5), (0, 5)]
    mixed = pool_box_features(
        {"0": fmap}, [torch.zeros(0, 4), torch.tensor([[0.0, 0, 8, 8]])], [(32, 32)] * 2, ["0"]
    )
    assert mixed[0].shape == (0, 5) and mixed[1].shape == (1, 5)
    with pytest.raises(ValueError, match="mode"):
        pool_box_features({"0": fmap}, none, [(32, 32)] * 2, ["0"], mode="grid")
    with pytest.raises(ValueError, match="box sets"):
        pool_box_features({"0": fmap}, none, [(32, 32)], ["0"])
    zero = pool_box_features(
        {"0": torch.zeros(1, 3, 4, 4)}, [torch.tensor([[0.0, 0, 8, 8]])], [(32, 32)], ["0"]
    )[0]
    assert torch.equal(zero, torch.zeros(1, 3)), "a zero feature stays zero, not NaN"


def test_levels_and_coordinates() -> None:
    two_stage = nn.Module()
    two_stage.roi_heads = nn.Module()
    two_stage.roi_heads.box_roi_pool = MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2)
    assert feature_levels(two_stage, ["0", "1", "2", "3", "pool"]) == ["0", "1", "2", "3"]
    assert feature_levels(nn.Module(), ["0", "1", "p6", "p7"]) == ["0", "1", "p6", "p7"]
    scaled = to_transformed(torch.tensor([[10.0, 20.0, 30.0, 40.0]]), (100, 50), (200, 150))
    torch.testing.assert_close(scaled, torch.tensor([[30.0, 40.0, 90.0, 80.0]]))
