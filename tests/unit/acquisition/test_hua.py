import pytest

from acquisition.records import ImageRecord
from acquisition.registry import get_strategy
from acquisition.types import FLIP, ORIGINAL
from tests.unit.acquisition.helpers import context, empty_view, image, view

METRICS = ("semantic_affinity", "category_diversity", "overlap_ratio", "localization_uncertainty")


def rec(i: int, entropy: float, vals: tuple[float, ...] = (0, 0, 0, 0), empty: bool = False):
    return ImageRecord(
        i, entropy, {"entropy": entropy, **dict(zip(METRICS, vals, strict=False))}, {"empty": empty}
    )


def test_retrieval_size_clamps() -> None:
    hua = get_strategy("hua")
    assert hua.retrieval_size(budget=10, pool=100) == 30
    assert hua.retrieval_size(budget=10, pool=20) == 20
    assert hua.retrieval_size(budget=10, pool=5) == 5
    assert get_strategy("hua", retrieval_factor=1.0).retrieval_size(4, 100) == 4


def test_retrieval_keeps_top_entropy_and_caps_empty_images() -> None:
    hua = get_strategy("hua", retrieval_factor=2.0, empty_cap=0.25)
    recs = [rec(i, 1.0, empty=True) for i in range(6)] + [rec(10 + i, 0.1 * i) for i in range(6)]
    taken = hua.retrieve(recs, budget=4)  # P = 8, at most 2 empty images
    ids = sorted(recs[i].image_id for i in taken)
    assert ids == [0, 1, 10, 11, 12, 13, 14, 15]  # ties by position (select shuffles first)


def test_retrieval_fills_with_empty_images_when_others_run_out() -> None:
    hua = get_strategy("hua")
    recs = [rec(i, 1.0, empty=True) for i in range(5)] + [rec(9, 0.3)]
    sel = hua.select(recs, 3, context())
    assert len(sel) == 3


def test_ranking_by_euclidean_norm_of_normalised_metrics() -> None:
    hua = get_strategy("hua", retrieval_factor=1.0)
    recs = [rec(1, 0.5, (0, 0, 0, 0)), rec(2, 0.5, (1, 0, 0, 0)), rec(3, 0.5, (1, 1, 0, 0))]
    sel = hua.select(recs, 3, context())
    assert [s.image_id for s in sel] == [3, 2, 1]
    assert [s.score for s in sel] == pytest.approx([2**0.5, 1.0, 0.0])
    assert sel[0].components["semantic_affinity_norm"] == pytest.approx(1.0)
    assert sel[0].components["overlap_ratio_norm"] == 0.0  # constant metric contributes 0


def test_ties_broken_by_entropy_then_seeded_order() -> None:
    hua = get_strategy("hua", retrieval_factor=1.0)
    recs = [rec(5, 0.2), rec(3, 0.2), rec(4, 0.9)]  # all metrics equal -> l = 0
    orders = set()
    for seed in range(8):
        got = [s.image_id for s in hua.select(recs, 3, context(), seed)]
        assert got[0] == 4  # higher entropy first
        assert [s.image_id for s in hua.select(list(reversed(recs)), 3, context(), seed)] == got
        orders.add(tuple(got))
    assert orders == {(4, 3, 5), (4, 5, 3)}  # the rest is the seed's order, not the id's


def test_no_detections_edge_case() -> None:
    hua = get_strategy("hua")
    r = hua.score_image(image(1, {ORIGINAL: empty_view(), FLIP: empty_view()}), context())
    assert r.components == {
        "entropy": 1.0,
        "semantic_affinity": 0.0,
        "category_diversity": 0.0,
        "overlap_ratio": 0.0,
        "localization_uncertainty": 1.0,
    }
    assert r.data["empty"] is True


def test_requirements_follow_parameters() -> None:
    assert get_strategy("hua").requirements.views == {ORIGINAL, FLIP}
    assert get_strategy("hua").requirements.log_vars
    r = get_strategy("hua", metrics=["overlap_ratio"]).requirements
    assert r.views == {ORIGINAL} and not r.log_vars
    assert not get_strategy("hua", localization="flip_iou").requirements.log_vars


def test_sigma_mode_without_sigma_head_is_a_clear_error() -> None:
    v = view([[0, 0, 10, 10]])
    with pytest.raises(ValueError, match="log_vars"):
        get_strategy("hua", localization="sigma").score_image(
            image(1, {ORIGINAL: v, FLIP: v}), context()
        )


def test_auto_localization_uses_sigma_when_present() -> None:
    v = view([[0, 0, 10, 10]], log_vars=[[0.0] * 4])
    f = view([[0, 0, 10, 5]], log_vars=[[0.0] * 4])
    r = get_strategy("hua").score_image(image(1, {ORIGINAL: v, FLIP: f}), context())
    assert r.components["localization_uncertainty"] == pytest.approx(0.632, abs=1e-3)
    r = get_strategy("hua", localization="flip_iou").score_image(
        image(1, {ORIGINAL: v, FLIP: f}), context()
    )
    assert r.components["localization_uncertainty"] == pytest.approx(0.5)


def test_missing_flip_view_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="flip"):
        get_strategy("hua").score_image(image(1, {ORIGINAL: empty_view()}), context())


def test_diversity_guard_skips_duplicate_histograms() -> None:
    hua = get_strategy("hua", diversity_guard=0.95, metrics=["overlap_ratio"])
    same = view([[0, 0, 10, 10], [1, 1, 11, 11]], labels=[0, 0])
    other = view([[0, 0, 10, 10]], labels=[1])
    preds = [image(1, {ORIGINAL: same}), image(2, {ORIGINAL: same}), image(3, {ORIGINAL: other})]
    recs = hua.score_images(preds, context())
    assert [s.image_id for s in hua.select(recs, 2, context())] == [1, 3]
    plain = get_strategy("hua", metrics=["overlap_ratio"])
    assert [
        s.image_id for s in plain.select(plain.score_images(preds, context()), 2, context())
    ] == [1, 2]


def test_rank_normalization_ignores_outlier_scale() -> None:
    # one huge SA outlier squashes the other SA values under min-max, not under rank
    recs = [
        rec(1, 0.5, (100, 0.1, 0, 0)),
        rec(2, 0.5, (3, 0.8, 0, 0)),
        rec(3, 0.5, (2, 0.9, 0, 0)),
        rec(4, 0.5, (1, 0.7, 0, 0)),
    ]
    by_minmax = get_strategy("hua", retrieval_factor=1.0).select(recs, 4, context())
    by_rank = get_strategy("hua", retrieval_factor=1.0, normalization="rank").select(
        recs, 4, context()
    )
    sa = {s.image_id: s.components["semantic_affinity_norm"] for s in by_minmax}
    assert sa == pytest.approx({1: 1.0, 2: 2 / 99, 3: 1 / 99, 4: 0.0})
    sa = {s.image_id: s.components["semantic_affinity_norm"] for s in by_rank}
    assert sa == pytest.approx({1: 1.0, 2: 2 / 3, 3: 1 / 3, 4: 0.0})
    assert [s.image_id for s in by_rank] == [3, 1, 2, 4]
    assert by_rank[0].score == pytest.approx((1 / 9 + 1) ** 0.5)
    assert all(s.components["overlap_ratio_norm"] == 0.0 for s in by_rank)  # constant -> 0


def test_entropy_can_join_the_ranking_metrics() -> None:
    hua = get_strategy("hua", retrieval_factor=1.0, metrics=["entropy", "overlap_ratio"])
    assert hua.requirements.views == frozenset({ORIGINAL})  # no flip needed for these two
    recs = [rec(1, 0.9, (0, 0, 0, 0)), rec(2, 0.1, (0, 0, 0.5, 0)), rec(3, 0.8, (0, 0, 0.4, 0))]
    sel = hua.select(recs, 3, context())
    assert [s.image_id for s in sel] == [3, 1, 2]
    assert sel[0].components["entropy_norm"] == pytest.approx(0.875)


def test_box_weights_score_reweights_the_ranking_metrics() -> None:
    o = view(
        [[0, 0, 10, 10], [50, 50, 60, 60]], scores=[0.9, 0.1], probs=[[0, 1, 0, 0], [0, 1, 0, 0]]
    )
    f = view(
        [[0, 0, 10, 10], [50, 50, 60, 55]], scores=[0.9, 0.1], probs=[[0, 1, 0, 0], [0, 0, 1, 0]]
    )
    pred = image(1, {ORIGINAL: o, FLIP: f})
    plain = get_strategy("hua").score_image(pred, context()).components
    weighted = get_strategy("hua", box_weights="score").score_image(pred, context()).components
    assert plain["semantic_affinity"] == pytest.approx(0.5, rel=1e-5)
    assert weighted["semantic_affinity"] == pytest.approx(0.1, rel=1e-5)
    assert weighted["localization_uncertainty"] == pytest.approx(0.05, rel=1e-5)
    assert weighted["category_diversity"] == plain["category_diversity"]  # already score-based
    assert weighted["entropy"] == plain["entropy"]
    with pytest.raises(ValueError, match="box_weights"):
        get_strategy("hua", box_weights="area")
