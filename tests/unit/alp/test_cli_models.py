"""``alp weights fetch|import`` and ``alp predict`` (typer's runner, in process)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from urllib.error import URLError

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from alp.cli import app

runner = CliRunner()


def _hub(data: Path) -> Path:
    return data / "torch" / "hub" / "checkpoints"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("TORCH_HOME", raising=False)
    return tmp_path / "data"


def test_fetch_offline_fails_with_a_clear_message(data_dir: Path, monkeypatch) -> None:
    def offline(*args, **kwargs):
        raise URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    r = runner.invoke(app, ["weights", "fetch", "fast", "--data-dir", str(data_dir)])
    assert r.exit_code == 1
    out = " ".join(r.output.split())
    assert "cannot download fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth" in out
    assert "alp weights import" in out and "Offline?" in out
    assert not _hub(data_dir).exists() or not any(_hub(data_dir).iterdir())
    r = runner.invoke(app, ["weights", "fetch", "huge", "--data-dir", str(data_dir)])
    assert r.exit_code == 2 and "unknown weights group 'huge'" in r.output


def test_fetch_skips_cached_files(data_dir: Path, monkeypatch) -> None:
    from models.weights import file_name, group_weights

    _hub(data_dir).mkdir(parents=True)
    for member in group_weights("standard"):
        (_hub(data_dir) / file_name(member)).write_bytes(b"x")
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_download)
    r = runner.invoke(app, ["weights", "fetch", "standard", "--data-dir", str(data_dir)])
    assert r.exit_code == 0, r.output
    assert r.output.count("already in") == 2


def _no_download(*args, **kwargs):
    raise AssertionError("nothing to download")


def test_import_checks_the_hash(data_dir: Path, tmp_path: Path, monkeypatch) -> None:
    src = tmp_path / "weights.pth"
    src.write_bytes(b"pretend weights")
    r = runner.invoke(app, ["weights", "import", str(src), "--data-dir", str(data_dir)])
    assert r.exit_code == 1 and "none of torchvision's files" in " ".join(r.output.split())
    prefix = hashlib.sha256(src.read_bytes()).hexdigest()[:8]
    from models import weights

    monkeypatch.setattr(weights, "known_weights", lambda: {f"det_coco-{prefix}.pth": None})
    r = runner.invoke(app, ["weights", "import", str(src), "--data-dir", str(data_dir)])
    assert r.exit_code == 0, r.output
    assert (_hub(data_dir) / f"det_coco-{prefix}.pth").read_bytes() == b"pretend weights"


def test_predict_writes_coco_results(tmp_path: Path) -> None:
    from models.builders import build_detector
    from models.checkpoint import save_checkpoint
    from models.config import TrainConfig

    cfg = TrainConfig.preset("vanilla", detector={"min_size": 64, "max_size": 64})
    ckpt = save_checkpoint(tmp_path / "m.pt", build_detector(cfg, 2, seed=0), cfg, ["a", "b"])
    images = []
    for i in range(3):
        images.append(tmp_path / f"{i}.jpg")
        Image.new("RGB", (80, 60), (40 * i, 100, 30)).save(images[-1])
    out = tmp_path / "preds.json"
    r = runner.invoke(app, ["predict", "--model", str(ckpt), *map(str, images), "--out",
                            str(out), "--device", "cpu", "--score-thresh", "0"])  # fmt: skip
    assert r.exit_code == 0, r.output
    results = json.loads(out.read_text())
    assert isinstance(results, list) and all(r_["image_id"] in (1, 2, 3) for r_ in results)
    side = json.loads((tmp_path / "preds.json.images.json").read_text())
    assert side["categories"] == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    assert [im["file_name"] for im in side["images"]] == [str(p) for p in images]
    assert side["images"][0]["width"] == 80
    (tmp_path / "bad.pt").write_bytes(b"junk")
    r = runner.invoke(app, ["predict", "--model", str(tmp_path / "bad.pt"), str(images[0])])
    assert r.exit_code == 1 and "cannot load model" in r.output


def test_export_model_writes_onnx(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from models.builders import build_detector
    from models.checkpoint import save_checkpoint
    from models.config import TrainConfig

    cfg = TrainConfig.preset("vanilla", detector={"min_size": 64, "max_size": 64})
    ckpt = save_checkpoint(tmp_path / "m.pt", build_detector(cfg, 2, seed=0), cfg, ["a", "b"])
    out = tmp_path / "m.onnx"
    r = runner.invoke(app, ["export-model", "--model", str(ckpt), "--out", str(out)])
    assert r.exit_code == 0, r.output
    import onnx

    graph = onnx.load(str(out)).graph
    assert [o.name for o in graph.output][:3] == ["boxes", "labels", "scores"]
    r = runner.invoke(app, ["export-model", "--model", str(ckpt), "--format", "tflite"])
    assert r.exit_code == 2 and "unknown format 'tflite'" in r.output
