"""Remote commands: ``login``, ``pools``, ``upload``, ``import``, ``export``."""

from __future__ import annotations

import enum
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from alp.cli_remote.common import JSON_OPT, client, emit, err, handles_errors, out, save_credentials
from alp.client import Client, Pool
from alp.client_transfer import UploadSummary

pools_app = typer.Typer(help="Pools on the server (ALP_URL / alp login).", no_args_is_help=True)


class ImportFormat(enum.StrEnum):
    coco = "coco"
    yolo = "yolo"
    voc = "voc"
    labelstudio = "labelstudio"


class ExportFormat(enum.StrEnum):
    coco = "coco"
    yolo = "yolo"
    voc = "voc"
    labelstudio = "labelstudio"


class Split(enum.StrEnum):
    train = "train"
    val = "val"


@handles_errors
def login(
    url: str = typer.Option(..., prompt="Server URL", help="e.g. http://127.0.0.1:8000"),
    api_key: str = typer.Option(..., prompt="API key", hide_input=True, help="alp_..."),
    as_json: bool = JSON_OPT,
) -> None:
    """Check and store the server URL and API key (user config dir, mode 0600)."""
    with Client(url, api_key, retries=1) as c:
        n = len(c.pools())
    path = save_credentials(url, api_key)
    emit(as_json, {"url": url, "config": str(path), "pools": n},
         lambda: err.print(f"logged in to {escape(url)} ({n} pools); saved to {path}"))  # fmt: skip


def _pool_dict(p: Pool) -> dict:
    return p.model_dump()


def _pools_table(pools: list[Pool]) -> None:
    t = Table("id", "name", "classes", "images", "labeled", "strategy")
    for p in pools:
        t.add_row(str(p.id), escape(p.name), escape(", ".join(p.classes)),
                  str(p.counts.get("total", 0)), str(p.counts.get("labeled", 0)),
                  str(p.settings.get("strategy", "")))  # fmt: skip
    out.print(t)


@pools_app.command("list")
@handles_errors
def pools_list(as_json: bool = JSON_OPT) -> None:
    """List the pools."""
    with client() as c:
        pools = c.pools()
    emit(as_json, [_pool_dict(p) for p in pools], lambda: _pools_table(pools))


@pools_app.command("create")
@handles_errors
def pools_create(
    name: str,
    classes: str = typer.Option(..., help="Comma-separated class names, in order."),
    strategy: str | None = typer.Option(None, help="Acquisition strategy (default hua)."),
    batch_size: int | None = typer.Option(None, help="Images selected per cycle."),
    as_json: bool = JSON_OPT,
) -> None:
    """Create a pool."""
    settings = {k: v for k, v in (("strategy", strategy), ("batch_size", batch_size)) if v}
    with client() as c:
        p = c.create_pool(name, [s.strip() for s in classes.split(",") if s.strip()], settings)
    emit(as_json, _pool_dict(p), lambda: _pools_table([p]))


@pools_app.command("show")
@handles_errors
def pools_show(pool: str = typer.Argument(..., help="Pool id or name."),
               as_json: bool = JSON_OPT) -> None:  # fmt: skip
    """Show one pool (classes, settings, image counts)."""
    with client() as c:
        p = c.find_pool(pool)
    emit(as_json, _pool_dict(p), lambda: out.print_json(data=_pool_dict(p)))


class RateColumn(ProgressColumn):
    """Images per second of the task."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} img/s" if speed else "- img/s", style="progress.data.speed")


def _print_summary(s: UploadSummary, interrupted: bool = False) -> None:
    head = "interrupted" if interrupted else "done"
    err.print(
        f"{head}: {s.files} files, {s.skipped} already in the pool (not sent), "
        f"{s.accepted} stored, {s.duplicates} duplicates, {len(s.rejected)} rejected"
        + (f" — {s.images_per_s:.1f} images/s" if s.seconds and not interrupted else "")
    )
    for r in s.rejected[:50]:
        err.print(f"  [red]rejected[/red] {escape(r['file'])}: {escape(r['reason'])}")
    if len(s.rejected) > 50:
        err.print(f"  ... and {len(s.rejected) - 50} more (--json lists them all)")
    if interrupted:
        err.print("run the same command again to resume (stored files are skipped)")


@handles_errors
def upload(
    pool: str = typer.Argument(..., help="Pool id or name."),
    paths: list[Path] = typer.Argument(..., help="Image files, zips and/or folders."),
    split: Split | None = typer.Option(None, help="Store as train or val (default train)."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Descend into sub-folders."),
    workers: int = typer.Option(4, min=1, max=32, help="Parallel requests."),
    batch_files: int = typer.Option(16, min=1, max=1000, help="Files per request."),
    as_json: bool = JSON_OPT,
) -> None:
    """Upload images in parallel, skipping content the pool already has (resumable).

    Files whose SHA-256 the pool holds are not sent, so after Ctrl-C the same command
    resumes where it stopped."""
    progress = Progress(
        TextColumn("[progress.description]{task.description}"), BarColumn(),
        MofNCompleteColumn(), RateColumn(), TimeElapsedColumn(), console=err,
        disable=as_json,
    )  # fmt: skip
    task = progress.add_task("hashing", total=None)
    summary: UploadSummary | None = None

    def on_start(s: UploadSummary, to_send: int) -> None:
        nonlocal summary
        summary = s
        progress.update(task, description="uploading", total=to_send, completed=0)
        progress.reset(task, total=to_send)

    with client() as c, progress:
        p = c.find_pool(pool)
        try:
            summary = c.upload_files(
                p.id, paths, split=split.value if split else None, recursive=recursive,
                workers=workers, batch_files=batch_files, on_start=on_start,
                on_progress=lambda n: progress.advance(task, n),
            )  # fmt: skip
        except KeyboardInterrupt:
            progress.stop()
            s = summary or UploadSummary()
            emit(as_json, {**s.to_dict(), "interrupted": True},
                 lambda: _print_summary(s, interrupted=True))  # fmt: skip
            raise typer.Exit(130) from None
    emit(as_json, summary.to_dict(), lambda: _print_summary(summary))
    if summary.rejected and not (summary.accepted or summary.duplicates or summary.skipped):
        raise typer.Exit(1)


@handles_errors
def import_(
    pool: str = typer.Argument(..., help="Pool id or name."),
    path: Path = typer.Argument(..., exists=True, help="Label file (coco/labelstudio JSON) "
                                "or zip/folder (yolo/voc labels, images optional)."),
    fmt: ImportFormat = typer.Option(..., "--format", "-f", help="Label format."),
    images: Path | None = typer.Option(None, exists=True, help="Zip or folder of the images "
                                       "(coco/labelstudio); else matched to uploaded ones."),
    add_classes: bool = typer.Option(False, help="Append unknown class names to the pool."),
    strict: bool = typer.Option(True, help="--no-strict: import what is valid, list the rest."),
    as_json: bool = JSON_OPT,
) -> None:  # fmt: skip
    """Import labels (and images) in COCO, YOLO, Pascal VOC or Label Studio JSON."""
    with client() as c:
        p = c.find_pool(pool)
        r = c.import_labels(p.id, fmt.value, path, images=images, add_classes=add_classes,
                            strict=strict)  # fmt: skip

    def human() -> None:
        added = f", classes added: {', '.join(r.classes_added)}" if r.classes_added else ""
        err.print(f"labeled {r.images_labeled} images ({r.annotations} boxes), "
                  f"{r.images_from_archive} new images stored{added}")  # fmt: skip
        for problem in r.problems:
            err.print(f"  [yellow]skipped[/yellow] {escape(problem)}")

    emit(as_json, r.model_dump(), human)


@handles_errors
def export(
    pool: str = typer.Argument(..., help="Pool id or name."),
    out_path: Path = typer.Argument(..., metavar="OUT", help="File to write (.json or .zip)."),
    fmt: ExportFormat = typer.Option(..., "--format", "-f", help="Label format."),
    split: Split | None = typer.Option(None, help="Only this split."),
    images: bool = typer.Option(True, help="--no-images: labels only (yolo/voc)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Export the labeled images: COCO or Label Studio JSON, YOLO or VOC zip."""
    with client() as c:
        p = c.find_pool(pool)
        dest = c.export(p.id, fmt.value, out_path, split=split.value if split else None,
                        images=images)  # fmt: skip
    info = {"pool": p.id, "format": fmt.value, "path": str(dest), "bytes": dest.stat().st_size}
    emit(as_json, info, lambda: err.print(f"wrote {dest} ({info['bytes']} bytes)"))
