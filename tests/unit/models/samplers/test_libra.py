"""Libra samplers: quotas, bins, fall-backs, no duplicates, empty-GT images."""

from __future__ import annotations

import torch

from models.samplers import InstanceBalancedPosSampler, IoUBalancedNegSampler, LibraSampler


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _assert_unique(*index_sets: torch.Tensor) -> None:
    allv = torch.cat(index_sets)
    assert allv.unique().numel() == allv.numel()


def test_instance_balanced_positives_spread_over_gts_and_fill_up() -> None:
    pos = torch.arange(100, 122)
    gt = torch.tensor([0] * 20 + [1] * 2)
    # per_gt = round(8 / 2) + 1 = 5 -> 5 + 2 = 7 taken, 1 refilled from GT 0's leftovers
    out = InstanceBalancedPosSampler()(pos, gt, 8, _gen())
    _assert_unique(out)
    assert out.numel() == 8
    assert torch.isin(torch.tensor([120, 121]), out).all()  # both GT-1 positives kept


def test_instance_balanced_positives_subsample_excess_and_keep_small_sets() -> None:
    pos = torch.arange(30)
    gt = torch.arange(30) % 3  # per_gt = round(4/3) + 1 = 2 -> 6 > 4 -> random 4
    out = InstanceBalancedPosSampler()(pos, gt, 4, _gen(1))
    _assert_unique(out)
    assert out.numel() == 4
    small = InstanceBalancedPosSampler()(torch.arange(3), torch.zeros(3, dtype=torch.long), 8)
    assert small.tolist() == [0, 1, 2]


def _negatives(per_bin: dict[tuple[float, float], int]) -> tuple[torch.Tensor, torch.Tensor]:
    gen = _gen(2)
    ious = torch.cat(
        [lo + (hi - lo) * torch.rand(n, generator=gen) for (lo, hi), n in per_bin.items()]
    )
    return torch.arange(ious.numel()), ious


def test_iou_balanced_mmdet_compatible_bins_use_max_iou_of_all_candidates() -> None:
    # bins [0, 1/3), [1/3, 2/3), [2/3, 1): negatives (< 0.5) never reach the top bin
    inds, ious = _negatives({(0.0, 0.3): 200, (0.34, 0.5): 40})
    out = IoUBalancedNegSampler(num_bins=3)(inds, ious, 30, max_iou=1.0, generator=_gen())
    _assert_unique(out)
    assert out.numel() == 30
    assert (ious[out] >= 1 / 3).sum() >= 10  # bin 1 got its quota; bin 2 refilled randomly


def test_iou_balanced_faithful_bins_split_the_negative_range_evenly() -> None:
    inds, ious = _negatives({(0.0, 0.16): 300, (0.17, 0.33): 100, (0.34, 0.49): 12})
    out = IoUBalancedNegSampler(num_bins=3)(inds, ious, 30, max_iou=0.5, generator=_gen())
    _assert_unique(out)
    counts = [
        ((ious[out] >= lo) & (ious[out] < hi)).sum().item()
        for lo, hi in ((0, 1 / 6), (1 / 6, 1 / 3), (1 / 3, 0.5))
    ]
    assert counts == [10, 10, 10]


def test_iou_balanced_floor_set_and_shortfall() -> None:
    inds, ious = _negatives({(0.0, 0.1): 100, (0.1, 0.5): 100})
    sampler = IoUBalancedNegSampler(floor_thr=0.1, floor_fraction=0.5, num_bins=2)
    out = sampler(inds, ious, 40, max_iou=1.0, generator=_gen())
    _assert_unique(out)
    assert out.numel() == 40 and (ious[out] < 0.1).sum() == 20
    # only 5 IoU-set negatives: the floor set makes up the rest
    inds2, ious2 = _negatives({(0.0, 0.1): 100, (0.1, 0.5): 5})
    out2 = sampler(inds2, ious2, 40, max_iou=1.0, generator=_gen())
    _assert_unique(out2)
    assert out2.numel() == 40 and (ious2[out2] >= 0.1).sum() == 5


def _image(n_pos: int, n_neg: int, n_ignored: int = 0) -> tuple[torch.Tensor, ...]:
    gen = _gen(3)
    labels = torch.cat(
        [
            torch.randint(1, 4, (n_pos,), generator=gen),
            torch.zeros(n_neg, dtype=torch.long),
            torch.full((n_ignored,), -1, dtype=torch.long),
        ]
    )
    matched = torch.randint(0, 3, (labels.numel(),), generator=gen)
    ious = torch.cat(
        [
            0.5 + 0.5 * torch.rand(n_pos, generator=gen),
            0.5 * torch.rand(n_neg + n_ignored, generator=gen),
        ]
    )
    return labels, matched, ious


def test_libra_sampler_quotas_and_disjoint_sets() -> None:
    labels, matched, ious = _image(200, 1000, 50)
    for faithful in (False, True):
        res = LibraSampler(num=128, pos_fraction=0.25, faithful=faithful)(
            labels, matched, ious, _gen()
        )
        _assert_unique(res.pos_inds, res.neg_inds)
        assert res.pos_inds.numel() == 32 and res.neg_inds.numel() == 96
        assert (labels[res.pos_inds] > 0).all() and (labels[res.neg_inds] == 0).all()
        assert res.neg_weights is None


def test_libra_sampler_few_positives_and_empty_gt_image() -> None:
    labels, matched, ious = _image(3, 500)
    res = LibraSampler(num=64)(labels, matched, ious, _gen())
    assert res.pos_inds.numel() == 3 and res.neg_inds.numel() == 61
    empty = torch.zeros(300, dtype=torch.long)
    res = LibraSampler(num=64)(empty, empty, torch.zeros(300), _gen())
    _assert_unique(res.neg_inds)
    assert res.pos_inds.numel() == 0 and res.neg_inds.numel() == 64


def test_libra_sampler_is_deterministic_given_a_generator() -> None:
    labels, matched, ious = _image(100, 800)
    a = LibraSampler(num=64)(labels, matched, ious, _gen(9))
    b = LibraSampler(num=64)(labels, matched, ious, _gen(9))
    assert torch.equal(a.pos_inds, b.pos_inds) and torch.equal(a.neg_inds, b.neg_inds)
