"""``alp weights fetch|import`` and ``alp predict``: pretrained weights in torchvision's
cache, and detections from a downloaded model. Torch is imported inside the commands."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from alp.config import Settings

weights_app = typer.Typer(
    help="Pretrained detector weights in torchvision's cache (TORCH_HOME).",
    no_args_is_help=True,
)
console = Console(stderr=True)
DATA_DIR = typer.Option(None, help="Data directory (the cache defaults to DATA_DIR/torch).")


def _hub_dir(data_dir: Path | None) -> Path:
    s = Settings(**({"data_dir": data_dir} if data_dir is not None else {}))
    assert s.torch_home is not None
    return Path(s.torch_home) / "hub"


def _fail(message: str, code: int = 1) -> typer.Exit:
    console.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code)


@weights_app.command("fetch")
def fetch(
    group: str = typer.Argument("all", help="standard | fast | all"),
    data_dir: Path | None = DATA_DIR,
) -> None:
    """Download the COCO weights a model profile needs (with a progress bar)."""
    from models import weights

    try:
        members = weights.group_weights(group)
    except ValueError as exc:
        raise _fail(str(exc), 2) from exc
    hub = _hub_dir(data_dir)
    for member in members:
        path = weights.cached_file(member, hub)
        if path.is_file():
            console.print(f"{path.name}: already in {path.parent}")
            continue
        console.print(f"downloading {member.url}")
        try:
            weights.fetch(member, hub, progress=True)
        except OSError as exc:
            raise _fail(
                f"cannot download {path.name} ({exc}). Offline? Download {member.url} "
                f"elsewhere, copy it here and run `alp weights import {path.name}`"
            ) from exc
        except RuntimeError as exc:  # torch.hub's hash mismatch
            raise _fail(f"{path.name}: {exc}") from exc
        console.print(f"{path.name}: saved in {path.parent}")


@weights_app.command("import")
def import_(
    file: Path = typer.Argument(..., help="A weight file downloaded elsewhere."),
    data_dir: Path | None = DATA_DIR,
) -> None:
    """Install a downloaded weight file (checked against torchvision's published hash)."""
    from models import weights

    try:
        dest = weights.import_file(file, _hub_dir(data_dir))
    except (OSError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    console.print(f"installed {dest}")


def predict(
    images: list[Path] = typer.Argument(..., help="Image files."),
    model: Path = typer.Option(..., "--model", help="Checkpoint from GET /cycles/{id}/model."),
    out: Path = typer.Option(Path("preds.json"), "--out", help="COCO results JSON to write."),
    device: str = typer.Option("auto", help="auto | cpu | cuda[:N]"),
    batch_size: int = typer.Option(4, min=1, help="Images per forward pass."),
    score_thresh: float = typer.Option(0.05, min=0.0, max=1.0, help="Drop lower scores."),
) -> None:
    """Detections of a trained model on image files, as a COCO results JSON (image ids
    and categories: OUT.images.json)."""
    import torch

    from models import load_detector
    from models.predict import predict_files

    dev = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    try:
        detector, class_names = load_detector(model, device=dev)
    except (OSError, ValueError) as exc:
        raise _fail(f"cannot load model {model}: {exc}") from exc
    with Progress("predicting", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console) as bar:  # fmt: skip
        task = bar.add_task("", total=len(images))
        try:
            metas, results = predict_files(
                detector, images, dev, batch_size, score_thresh,
                progress=lambda done, _total: bar.update(task, completed=done),
            )  # fmt: skip
        except ValueError as exc:
            raise _fail(str(exc)) from exc
    out.write_text(json.dumps(results))
    categories = [{"id": i + 1, "name": n} for i, n in enumerate(class_names)]
    sidecar = out.with_name(out.name + ".images.json")
    sidecar.write_text(json.dumps({"images": metas, "categories": categories}))
    console.print(f"{len(results)} detections on {len(images)} images -> {out} ({dev})")


def export_model(
    model: Path = typer.Option(..., "--model", help="Checkpoint from GET /cycles/{id}/model."),
    out: Path = typer.Option(Path("model.onnx"), "--out", help="File to write."),
    fmt: str = typer.Option("onnx", "--format", help="onnx (the only format so far)."),
) -> None:
    """Export a trained model to ONNX (one image in; boxes, labels, scores out)."""
    if fmt != "onnx":
        raise _fail(f"unknown format {fmt!r}; supported: onnx", 2)
    from models import load_detector

    try:
        from models.export import export_onnx

        detector, class_names = load_detector(model)
        export_onnx(detector, out)
    except ImportError as exc:
        raise _fail(f"ONNX export needs the onnx package (pip install onnx): {exc}") from exc
    except (OSError, ValueError) as exc:
        raise _fail(f"cannot export {model}: {exc}") from exc
    console.print(f"wrote {out} (classes: {', '.join(class_names)}; label k = class k-1 "
                  "for Faster R-CNN, class k for RetinaNet)")  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add ``weights``, ``predict`` and ``export-model`` to the ``alp`` app."""
    app.add_typer(weights_app, name="weights")
    app.command("predict")(predict)
    app.command("export-model")(export_model)
