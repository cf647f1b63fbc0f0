"""Inference contract for acquisition: views mapped back, shapes, one batched forward."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from models.augment import cutout_view, downscale_view, flip_boxes, rotate_view
from models.builders import build_detector
from models.config import TrainConfig
from models.inference import predict, predict_paths

ALL_VIEWS = ("orig", "flip", "cutout", "downscale", "rotate", "noise", "saltpepper")


@pytest.fixture
def rcnn(tiny_detector_config: Callable) -> nn.Module:
    return build_detector(tiny_detector_config(), 3, seed=0)


def _images(samples: list[dict], n: int = 3) -> list[torch.Tensor]:
    return [s["image"] for s in samples[:n]]


@pytest.mark.parametrize("preset", ["vanilla", "huale", "retinanet"])
def test_contract_fields_and_shapes(
    preset: str, tiny_detector_config: Callable, synthetic_samples: list
) -> None:
    arch = "retinanet" if preset == "retinanet" else "fasterrcnn"
    config = TrainConfig.preset(preset, detector=tiny_detector_config(arch))
    model = build_detector(config, 3)
    results = predict(
        model,
        _images(synthetic_samples),
        image_ids=["a", "b", "c"],
        views=ALL_VIEWS,
        embedding=True,
        score_thresh=0.0,
        max_det=7,
    )
    assert [r["image_id"] for r in results] == ["a", "b", "c"]
    cols = 3 if arch == "retinanet" else 4
    for r in results:
        assert (r["width"], r["height"]) == (64, 64)
        assert r["has_background"] is (arch == "fasterrcnn")
        assert r["embedding"].shape == (64,)
        assert list(r["views"]) == list(ALL_VIEWS)
        for view in r["views"].values():
            n = len(view["boxes"])
            assert 0 < n <= 7
            assert view["boxes"].shape == (n, 4) and view["boxes"].dtype == torch.float32
            assert view["labels"].dtype == torch.int64
            assert ((view["labels"] >= 0) & (view["labels"] < 3)).all()
            assert view["scores"].shape == (n,)
            assert view["probs"].shape == (n, cols)
            assert (view["boxes"] >= 0).all() and (view["boxes"] <= 64).all()
            if preset == "huale":
                assert view["log_vars"].shape == (n, 4)
            else:
                assert view["log_vars"] is None
            if arch == "fasterrcnn":
                torch.testing.assert_close(view["probs"].sum(1), torch.ones(n))
                # each detection's score is its class's column of the probability vector
                picked = view["probs"][torch.arange(n), view["labels"] + 1]
                torch.testing.assert_close(picked, view["scores"], atol=1e-5, rtol=0)


def test_zero_detections_keep_trailing_shapes(rcnn: nn.Module, synthetic_samples: list) -> None:
    results = predict(
        rcnn, _images(synthetic_samples, 2), views=("orig", "flip", "cutout"), score_thresh=1.01
    )
    for r in results:
        for view in r["views"].values():
            assert view["boxes"].shape == (0, 4)
            assert view["labels"].shape == (0,) and view["scores"].shape == (0,)
            assert view["probs"].shape == (0, 4)


def test_flip_view_maps_back_exactly(rcnn: nn.Module, synthetic_samples: list) -> None:
    image = synthetic_samples[0]["image"]
    both = predict(rcnn, [image], views=("orig", "flip"), score_thresh=0.0)[0]["views"]
    mirrored = predict(rcnn, [image.flip(-1)], views=("orig",), score_thresh=0.0)[0]["views"]
    torch.testing.assert_close(
        both["flip"]["boxes"], flip_boxes(mirrored["orig"]["boxes"], 64), atol=1e-3, rtol=0
    )
    torch.testing.assert_close(
        both["flip"]["scores"], mirrored["orig"]["scores"], atol=1e-5, rtol=0
    )


def test_symmetric_image_gives_matching_boxes(rcnn: nn.Module, synthetic_samples: list) -> None:
    image = synthetic_samples[1]["image"]
    symmetric = (image + image.flip(-1)) / 2
    views = predict(rcnn, [symmetric], views=("orig", "flip"), score_thresh=0.0)[0]["views"]
    orig, flip = views["orig"], views["flip"]
    assert len(orig["boxes"]) > 0
    torch.testing.assert_close(flip["boxes"], flip_boxes(orig["boxes"], 64), atol=1e-3, rtol=0)
    torch.testing.assert_close(flip["scores"], orig["scores"], atol=1e-5, rtol=0)
    torch.testing.assert_close(flip["probs"], orig["probs"], atol=1e-5, rtol=0)


def test_views_share_one_batched_forward(rcnn: nn.Module, synthetic_samples: list) -> None:
    calls: list[int] = []
    handle = rcnn.backbone.register_forward_hook(lambda _m, inp, _o: calls.append(len(inp[0])))
    try:
        predict(rcnn, _images(synthetic_samples), views=("orig", "flip"), batch_size=8)
        assert calls == [6]
        calls.clear()
        predict(rcnn, _images(synthetic_samples), views=("orig", "flip", "cutout"), batch_size=2)
        assert calls == [4, 2, 2, 1]  # per chunk: orig+flip together, then cutout
    finally:
        handle.remove()


def test_model_state_is_restored(rcnn: nn.Module, synthetic_samples: list) -> None:
    rcnn.train()
    predict(rcnn, _images(synthetic_samples, 1), score_thresh=0.3, max_det=3)
    assert rcnn.training
    assert rcnn.roi_heads.score_thresh == 0.05 and rcnn.roi_heads.detections_per_img == 100


def test_random_views_follow_the_generator(rcnn: nn.Module, synthetic_samples: list) -> None:
    def run(seed: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        out = predict(
            rcnn,
            _images(synthetic_samples, 1),
            views=("orig", "noise"),
            generator=gen,
            score_thresh=0.0,
        )
        return out[0]["views"]["noise"]["scores"]

    assert torch.equal(run(1), run(1))
    assert not torch.equal(run(1), run(2))


def test_downscale_and_rotate_unmap() -> None:
    image = torch.zeros(3, 50, 80)
    view = downscale_view(image, 0.8)
    assert view.image.shape == (3, 40, 64)
    torch.testing.assert_close(
        view.unmap(torch.tensor([[8.0, 4.0, 32.0, 20.0]])), torch.tensor([[10.0, 5.0, 40.0, 25.0]])
    )
    image[:, 20:30, 30:50] = 1.0  # box (30, 20, 50, 30)
    rot = rotate_view(image, 5.0)
    ys, xs = torch.nonzero(rot.image[0] > 0.5, as_tuple=True)
    seen = torch.tensor([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], dtype=torch.float32)
    back = rot.unmap(seen)
    # the back-rotated bounding box contains the object and is only slightly larger
    assert (back[0, :2] <= torch.tensor([31.0, 21.0])).all()
    assert (back[0, 2:] >= torch.tensor([49.0, 29.0])).all()
    assert (back[0, 2:] - back[0, :2] - torch.tensor([20.0, 10.0])).abs().max() < 6


def test_cutout_hits_reference_boxes() -> None:
    image = torch.rand(3, 64, 64)
    box = torch.tensor([[10.0, 10.0, 40.0, 40.0]])
    view = cutout_view(image, box, torch.Generator().manual_seed(0), patches=1)
    changed = (view.image != image).any(0)
    assert changed.any()
    inside = changed[10:40, 10:40].sum().item() / (30 * 30)
    assert 0.05 <= inside <= 0.45


def test_predict_paths_decodes_files(tmp_path: Path, rcnn: nn.Module, synthetic_samples: list):
    paths = []
    for i, sample in enumerate(synthetic_samples[:2]):
        array = (sample["image"] * 255).round().byte().permute(1, 2, 0).numpy()
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(array).save(paths[-1])
    results = predict_paths(rcnn, paths, views=("orig",), score_thresh=0.0)
    assert [r["image_id"] for r in results] == [str(p) for p in paths]
    direct = predict(rcnn, _images(synthetic_samples, 2), views=("orig",), score_thresh=0.0)
    torch.testing.assert_close(
        results[1]["views"]["orig"]["boxes"], direct[1]["views"]["orig"]["boxes"], atol=1e-3, rtol=0
    )
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    with pytest.raises(ValueError, match=r"bad\.jpg"):
        predict_paths(rcnn, [bad])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"views": ("flip",)}, "orig"),
        ({"views": ("orig", "mosaic")}, "unknown views"),
        ({"image_ids": [1]}, "image ids"),
        ({"batch_size": 0}, "batch_size"),
        ({"box_features": True, "box_feature_mode": "grid"}, "box_feature_mode"),
    ],
)
def test_bad_arguments(rcnn: nn.Module, synthetic_samples: list, kwargs: dict, message: str):
    with pytest.raises(ValueError, match=message):
        predict(rcnn, _images(synthetic_samples, 2), **kwargs)


def _manual_box_features(
    model: nn.Module, image: torch.Tensor, boxes: torch.Tensor, mode: str = "roi"
) -> torch.Tensor:
    """Reference: one more forward of the transform + backbone, pooled at ``boxes``."""
    from models.box_features import feature_levels, pool_box_features, to_transformed

    with torch.inference_mode():
        batch, _ = model.eval().transform([image])
        feats = model.backbone(batch.tensors)
    feats = feats if isinstance(feats, dict) else {"0": feats}
    size = tuple(batch.image_sizes[0])
    scaled = to_transformed(boxes, tuple(image.shape[-2:]), size)
    levels = feature_levels(model, list(feats))
    return pool_box_features(feats, [scaled], [size], levels, mode)[0]


@pytest.mark.parametrize("arch", ["fasterrcnn", "retinanet"])
@pytest.mark.parametrize("mode", ["roi", "centre"])
def test_box_features_follow_the_original_view_boxes(
    arch: str, mode: str, tiny_detector_config: Callable, synthetic_samples: list
) -> None:
    model = build_detector(TrainConfig.preset("vanilla", detector=tiny_detector_config(arch)), 3)
    images = _images(synthetic_samples)
    # "orig" not first and a cutout pass afterwards: features still come from the original
    results = predict(
        model,
        images,
        views=("flip", "orig", "cutout"),
        box_features=True,
        box_feature_mode=mode,
        score_thresh=0.0,
        max_det=7,
        batch_size=2,
    )
    for image, r in zip(images, results, strict=True):
        boxes, feats = r["views"]["orig"]["boxes"], r["extra"]["box_features"]
        assert feats.shape == (len(boxes), 64) and feats.dtype == torch.float32
        assert len(boxes) > 0
        torch.testing.assert_close(feats.norm(dim=1), torch.ones(len(boxes)))
        # row i is the pooled feature of box i, taken from the detector's own forward
        reference = _manual_box_features(model, image, boxes, mode)
        torch.testing.assert_close(feats, reference, atol=1e-4, rtol=0)
        # different boxes give different features
        cosine = feats @ feats.T
        off_diagonal = cosine[~torch.eye(len(boxes), dtype=torch.bool)]
        assert off_diagonal.min() < 0.999


def test_box_features_are_not_computed_unless_asked(
    rcnn: nn.Module, synthetic_samples: list
) -> None:
    plain = predict(rcnn, _images(synthetic_samples, 1), score_thresh=0.0)[0]
    assert plain["extra"] == {}
    # the same detections with features: order and count match, detections unchanged
    with_feats = predict(rcnn, _images(synthetic_samples, 1), score_thresh=0.0, box_features=True)[
        0
    ]
    assert torch.equal(plain["views"]["orig"]["boxes"], with_feats["views"]["orig"]["boxes"])
    assert with_feats["extra"]["box_features"].shape[0] == len(plain["views"]["orig"]["boxes"])


def test_box_features_of_zero_detections(rcnn: nn.Module, synthetic_samples: list) -> None:
    results = predict(
        rcnn,
        _images(synthetic_samples, 2),
        views=("orig", "flip"),
        box_features=True,
        score_thresh=1.01,
    )
    for r in results:
        assert r["views"]["orig"]["boxes"].shape == (0, 4)
        assert r["extra"]["box_features"].shape == (0, 64)
        assert r["extra"]["box_features"].dtype == torch.float32


def test_autocast_is_picked_for_cuda_devices_only() -> None:
    import warnings

    from models.inference import forward_context

    for device in ("cpu", torch.device("cpu"), "meta"):
        assert type(forward_context(device)).__name__ == "nullcontext"
    assert type(forward_context("cuda", amp=False)).__name__ == "nullcontext"
    for device in ("cuda", "cuda:0", torch.device("cuda", 1)):
        with warnings.catch_warnings():  # without CUDA torch warns that it disables it
            warnings.simplefilter("ignore", UserWarning)
            ctx = forward_context(device)
        assert isinstance(ctx, torch.autocast)
        assert (ctx.device, ctx.fast_dtype) == ("cuda", torch.float16)


def test_cpu_forward_never_enters_autocast_and_is_unchanged(
    rcnn: nn.Module, synthetic_samples: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = _images(synthetic_samples, 4)
    plain = predict(rcnn, images, views=("orig", "flip", "cutout"), amp=False, batch_size=3)

    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("autocast entered on the CPU")

    monkeypatch.setattr(torch, "autocast", refuse)
    amp = predict(rcnn, images, views=("orig", "flip", "cutout"), amp=True, batch_size=3)
    for a, b in zip(plain, amp, strict=True):
        for name in a["views"]:
            for key in ("boxes", "labels", "scores", "probs"):
                assert torch.equal(a["views"][name][key], b["views"][name][key])
