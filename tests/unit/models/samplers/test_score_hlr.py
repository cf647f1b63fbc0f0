"""PISA Score-HLR sampler and NMS-match grouping."""

from __future__ import annotations

import pytest
import torch

from models.samplers import ScoreHLRSampler, nms_match_groups


def test_nms_match_groups_follow_greedy_suppression() -> None:
    boxes = torch.tensor(
        [[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30], [0, 0, 9, 10], [50, 50, 50, 50]],
        dtype=torch.float32,
    )
    scores = torch.tensor([0.9, 0.8, 0.7, 0.85, 0.6])
    groups = nms_match_groups(boxes, scores, 0.5)
    assert groups[0] == groups[1] == groups[3]
    assert len({groups[0].item(), groups[2].item(), groups[4].item()}) == 3
    assert nms_match_groups(torch.zeros(0, 4), torch.zeros(0), 0.5).shape == (0,)


def _image(n_pos: int, n_neg: int, n_valid: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    labels = torch.cat([torch.ones(n_pos, dtype=torch.long), torch.zeros(n_neg, dtype=torch.long)])
    logits = torch.zeros(n_neg, 3)
    logits[:, 0] = 6.0  # confident background: max fg score ~ 0.0025 (invalid)
    logits[:n_valid, 0] = 0.0
    logits[:n_valid, 1:] = torch.rand(n_valid, 2, generator=gen) * 2  # valid
    xy = torch.rand(n_neg, 2, generator=gen) * 60
    boxes = torch.cat([xy, xy + 8], dim=1)
    return labels, logits, boxes


def test_quotas_valid_first_and_isr_n_weights() -> None:
    labels, logits, boxes = _image(n_pos=50, n_neg=400, n_valid=30)
    res = ScoreHLRSampler(num=64, pos_fraction=0.25)(
        labels, logits, boxes, torch.Generator().manual_seed(0)
    )
    allv = torch.cat([res.pos_inds, res.neg_inds])
    assert allv.unique().numel() == allv.numel()
    assert res.pos_inds.numel() == 16 and res.neg_inds.numel() == 48
    neg_rows = res.neg_inds - 50
    assert (neg_rows[:30] < 30).all()  # all 30 valid negatives ranked first
    assert res.neg_weights is not None and res.neg_weights.shape == (48,)
    # up = max(48 expected, 30 valid) = 48; ranks 0..29; k = 0.5; random fill gets the min
    expected = ((48 - torch.arange(30.0)) / 48).sqrt()
    torch.testing.assert_close(res.neg_weights[:30], expected)
    torch.testing.assert_close(res.neg_weights[30:], expected[-1].expand(18))


def test_more_valid_than_needed_takes_the_top_ranked() -> None:
    labels, logits, boxes = _image(n_pos=0, n_neg=200, n_valid=150)
    res = ScoreHLRSampler(num=32)(labels, logits, boxes)
    assert res.pos_inds.numel() == 0 and res.neg_inds.numel() == 32
    assert (res.neg_inds < 150).all()


def test_unscored_negatives_count_as_invalid() -> None:
    labels, logits, boxes = _image(n_pos=0, n_neg=300, n_valid=40)
    res = ScoreHLRSampler(num=32)(labels, logits[:20], boxes[:20])  # only 20 scored
    assert res.neg_inds.numel() == 32 and torch.isin(torch.arange(20), res.neg_inds).all()


def test_no_valid_negatives_falls_back_to_random_with_unit_weights() -> None:
    labels, logits, boxes = _image(n_pos=5, n_neg=100, n_valid=0)
    res = ScoreHLRSampler(num=32)(labels, logits, boxes)
    assert res.neg_inds.numel() == 27 and torch.equal(res.neg_weights, torch.ones(27))


def test_image_without_negatives_and_bad_shapes() -> None:
    labels = torch.ones(10, dtype=torch.long)
    res = ScoreHLRSampler(num=8)(labels, torch.zeros(0, 3), torch.zeros(0, 4))
    assert res.pos_inds.numel() == 2 and res.neg_inds.numel() == 0
    with pytest.raises(ValueError, match="same number of rows"):
        ScoreHLRSampler()(torch.zeros(5, dtype=torch.long), torch.zeros(4, 3), torch.zeros(5, 4))
    with pytest.raises(ValueError, match="at most one per negative"):
        ScoreHLRSampler()(torch.zeros(5, dtype=torch.long), torch.zeros(6, 3), torch.zeros(6, 4))
