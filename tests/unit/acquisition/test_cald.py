import pytest
import torch

from acquisition.records import ImageRecord
from acquisition.registry import get_strategy
from acquisition.strategies.cald import view_consistency
from acquisition.types import CUTOUT, DOWNSCALE, FLIP, ORIGINAL, ROTATE
from tests.unit.acquisition.helpers import context, empty_view, image, view


def confident(boxes, labels=None):
    n = len(boxes)
    lab = labels or [0] * n
    probs = [[0.0] * 4 for _ in range(n)]
    for i, c in enumerate(lab):
        probs[i][c + 1] = 1.0
    return view(boxes, lab, probs=probs)


def test_view_consistency_known_answers() -> None:
    v = confident([[0, 0, 10, 10]])
    assert view_consistency(v, v, True, 1.3) == pytest.approx(0.7, abs=1e-5)  # m = 2
    half = confident([[0, 0, 10, 5]])
    assert view_consistency(v, half, True, 1.3) == pytest.approx(0.2, abs=1e-5)  # m = 1.5
    assert view_consistency(v, empty_view(), True, 1.3) == 0.0


def test_flip_only_requirements_and_empty_reference_scores_zero() -> None:
    cald = get_strategy("cald", augmentations="F")
    assert cald.requirements.views == {ORIGINAL, FLIP}
    r = cald.score_image(
        image(1, {ORIGINAL: empty_view(), FLIP: confident([[0, 0, 5, 5]])}), context()
    )
    assert r.components["consistency"] == 0.0
    assert r.data["class_vector"] == pytest.approx([1 / 2, 0, 0])


def test_fcdr_needs_all_views() -> None:
    cald = get_strategy("cald")
    assert cald.requirements.views == {ORIGINAL, FLIP, CUTOUT, DOWNSCALE, ROTATE}
    with pytest.raises(ValueError, match="cutout"):
        cald.score_image(image(1, {ORIGINAL: empty_view(), FLIP: empty_view()}), context())


@pytest.mark.parametrize("augs", ["", "FX", "FF"])
def test_bad_augmentation_strings(augs: str) -> None:
    with pytest.raises(ValueError, match="augmentations"):
        get_strategy("cald", augmentations=augs)


def _rec(i: int, m: float, q: list[float]) -> ImageRecord:
    return ImageRecord(i, -m, {"consistency": m}, {"class_vector": q})


def test_stage_two_zero_vectors_first_then_js_descending() -> None:
    cald = get_strategy("cald", candidate_ratio=1.5)
    recs = [
        _rec(1, 0.10, [0.9, 0.0, 0.0]),  # close to labelled distribution r
        _rec(2, 0.20, [0.0, 0.0, 0.9]),  # far from r
        _rec(3, 0.30, [0.0, 0.0, 0.0]),  # zero class vector -> first
        _rec(4, 0.90, [0.0, 0.0, 0.9]),  # consistent -> not a candidate
    ]
    ctx = context(labeled_class_freq=[3.0, 0.0, 0.0])
    sel = cald.select(recs, 2, ctx)  # candidates: ceil(1.5 * 2) = 3 lowest M
    assert [s.image_id for s in sel] == [3, 2]
    assert sel[0].score == 1.0 and sel[1].score < 1.0
    # budget 3 -> ceil(4.5) candidates = all four; 4 is far from r, 1 is close
    assert [s.image_id for s in cald.select(recs, 3, ctx)] == [3, 2, 4]
    stage1 = get_strategy("cald", stage2="none").select(recs, 2, ctx)
    assert [s.image_id for s in stage1] == [1, 2]


def test_uniform_variant_prefers_balancing_images() -> None:
    cald = get_strategy("cald", stage2="uniform", candidate_ratio=2.0)
    recs = [_rec(1, 0.1, [1.0, 0.0, 0.0]), _rec(2, 0.1, [0.0, 0.0, 1.0])]
    ctx = context(labeled_class_freq=[3.0, 0.0, 0.0])
    assert cald.select(recs, 1, ctx)[0].image_id == 2
    assert torch.isfinite(torch.tensor([s.score for s in cald.select(recs, 2, ctx)])).all()
