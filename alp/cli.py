"""The ``alp`` command line (typer). Torch is imported only by commands that need it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from alp import cli_backup as _cli_backup
from alp.cli_keys import keys_app
from alp.cli_models import register as _register_models
from alp.cli_remote import register as _register_remote
from alp.cli_storage import storage_app
from alp.config import CONFIG_ERROR_EXIT, ConfigError, Settings, load_settings

app = typer.Typer(
    help="alp: active-learning annotation pipeline for object detection.", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")
app.add_typer(storage_app, name="storage")
app.command("backup")(_cli_backup.backup)
app.command("restore")(_cli_backup.restore)
console = Console(stderr=True)


def _settings(data_dir: Path | None = None, **extra: object) -> Settings:
    """Validated settings with their dirs created; a bad ``ALP_*`` value exits with one line
    and status ``CONFIG_ERROR_EXIT`` (78)."""
    overrides: dict[str, object] = {k: v for k, v in extra.items() if v is not None}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    try:
        s = load_settings(**overrides)
        s.ensure_dirs()
    except ConfigError as exc:
        _config_exit(str(exc), exc)
    return s


def _config_exit(message: str, cause: BaseException) -> NoReturn:
    console.print(
        f"alp: configuration error: {message} (exit status {CONFIG_ERROR_EXIT})",
        markup=False, highlight=False, soft_wrap=True,
    )  # fmt: skip
    raise typer.Exit(CONFIG_ERROR_EXIT) from cause


def _migrate(s: Settings) -> None:
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

    from alp.db.migrate import DatabaseAheadError, upgrade

    try:
        upgrade(s.database_url)
    except DatabaseAheadError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    except (ArgumentError, NoSuchModuleError, OperationalError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        _config_exit(f"ALP_DATABASE_URL: cannot use the database ({reason})", exc)


def _say(line: str) -> None:
    """One unwrapped line on stderr, whatever the terminal width (scripts grep these)."""
    console.print(line, soft_wrap=True, highlight=False)


@app.command()
def migrate(data_dir: Path | None = typer.Option(None, help="Data directory.")) -> None:
    """Create or upgrade the database schema to this version."""
    s = _settings(data_dir)
    _migrate(s)
    console.print("database is up to date")


@app.command()
def up(
    host: str = typer.Option("127.0.0.1", help="Bind address."),
    port: int = typer.Option(8000, help="Port."),
    data_dir: Path | None = typer.Option(None, help="Data directory (default ./alp-data)."),
    demo: bool = typer.Option(False, help="Create a synthetic demo pool with an annotator."),
    worker: bool = typer.Option(True, help="Also start the gpu and io worker processes."),
) -> None:
    """Start the API, a gpu worker and an io worker (embedded SQLite + SQLite broker by
    default). Ctrl-C / SIGTERM at any moment stops every child process."""
    from alp import runtime

    try:
        with runtime.Supervisor() as sup:
            s, commands = _prepare_up(host, port, data_dir, demo, worker)
            sup.start(commands, runtime.child_env(s))
            code = sup.wait()
    except runtime.Stopped:
        _say("alp: stopped during start-up")
        code = 0
    raise typer.Exit(code)


def _prepare_up(
    host: str, port: int, data_dir: Path | None, demo: bool, worker: bool
) -> tuple[Settings, list[list[str]]]:
    """Settings, migration, the first admin key, the start-up lines; the child commands."""
    from alp import runtime
    from alp.db import make_engine, make_sessionmaker
    from alp.services import keys

    s = _settings(data_dir)
    if s.public_base_url == "http://127.0.0.1:8000" and (host, port) != ("127.0.0.1", 8000):
        s.public_base_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    _migrate(s)
    with make_sessionmaker(make_engine(s.database_url))() as db:
        new = keys.ensure_bootstrap_key(db, s.bootstrap_api_key)
        db.commit()
    url = escape(s.public_base_url.rstrip("/"))
    _say(f"alp is starting: dashboard [bold]{url}/[/bold]  API {url}/api/v1  docs {url}/docs")
    if new is not None:
        _say(f"admin API key (shown once): [bold]{escape(new.key)}[/bold]")
    commands = [runtime.api_command(host, port)]
    if worker:
        commands += runtime.embedded_worker_commands(s)
    if demo:
        commands.append([sys.executable, "-m", "simulation.demo"])
    return s, commands


@app.command("worker")
def worker_cmd(
    queues: str = typer.Option("all", help="gpu | io | all"),
    concurrency: int = typer.Option(1, help="Worker processes (use 1 per GPU for gpu)."),
    beat: bool = typer.Option(False, help="Also run the periodic scheduler (one per site)."),
    data_dir: Path | None = typer.Option(None, help="Data directory."),
) -> None:
    """Run a Celery worker on the given queues."""
    from alp import runtime

    if queues not in ("gpu", "io", "all"):
        raise typer.BadParameter("queues must be gpu, io or all")
    s = _settings(data_dir)
    q = "gpu,io" if queues == "all" else queues
    raise typer.Exit(
        runtime.supervise([runtime.worker_command(s, q, concurrency, beat)], runtime.child_env(s))
    )


@app.command()
def simulate(
    strategies: str = typer.Option(
        "hua:huale,random:vanilla",
        help="Comma-separated strategies, each optionally 'strategy:preset' "
        "(e.g. hua:huale,random:vanilla,entropy).",
    ),
    train_preset: str = typer.Option("vanilla", help="Preset for strategies without ':preset'."),
    initial: int = typer.Option(20, help="Initial randomly labelled images."),
    budget: int = typer.Option(20, help="Images labelled per cycle."),
    cycles: int = typer.Option(3, help="Training rounds, the initial one included."),
    seeds: str = typer.Option("0", help="Comma-separated seeds, e.g. 0,1,2."),
    val_split: float = typer.Option(0.0, help="Fraction of the pool held out for validation."),
    dataset: Path | None = typer.Option(None, help="COCO json of the pool (default: synthetic)."),
    image_dir: Path | None = typer.Option(None, help="Images of --dataset (default: ./images)."),
    test_dataset: Path | None = typer.Option(None, help="COCO json of a held-out test set."),
    synthetic: int = typer.Option(300, help="Synthetic pool size (without --dataset)."),
    synthetic_test: int = typer.Option(200, help="Synthetic test-set size."),
    data_seed: int = typer.Option(0, help="Seed of the synthetic data and the val split."),
    image_size: int = typer.Option(128, help="Detector input size (and synthetic image size)."),
    iterations: int = typer.Option(100, help="Training iterations per cycle."),
    batch_size: int = typer.Option(8, help="Training batch size."),
    lr: float | None = typer.Option(None, help="Learning rate (default: the preset's)."),
    backbone: str = typer.Option("tiny", help="tiny | mobilenet_v3_large_fpn | resnet50_fpn."),
    score_subset: int | None = typer.Option(None, help="Score a random subset of this many."),
    strategy_params: str | None = typer.Option(
        None, help='JSON parameters per strategy, e.g. \'{"hua": {"retrieval_factor": 2}}\'.'
    ),
    train_overrides: str | None = typer.Option(
        None,
        help="JSON training-config overrides of every run, e.g. "
        '\'{"detector": {"rois_per_image": 64}}\'.',
    ),
    device: str = typer.Option("cpu", help="cpu | cuda | cuda:N."),
    out: Path = typer.Option(Path("simulation-out"), help="Output directory."),
    progress: bool = typer.Option(True, help="Show a progress display."),
) -> None:
    """Simulate active learning with a ground-truth oracle; write CSV, JSON and a PNG plot."""
    from simulation.spec import (
        LoopOptions,
        parse_params,
        parse_seeds,
        parse_strategies,
        parse_train_overrides,
    )

    try:
        specs = parse_strategies(strategies, train_preset, parse_params(strategy_params))
        overrides = parse_train_overrides(train_overrides)
        loop = LoopOptions(
            initial=initial,
            budget=budget,
            cycles=cycles,
            seeds=parse_seeds(seeds),
            iterations=iterations,
            batch_size=batch_size,
            image_size=image_size,
            backbone=backbone,
            lr=lr,
            device=device,
            score_subset=score_subset,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    from simulation.cli import DataOptions
    from simulation.cli import simulate as run_simulation

    data = DataOptions(
        dataset=dataset,
        image_dir=image_dir,
        test_dataset=test_dataset,
        synthetic=synthetic,
        synthetic_test=synthetic_test,
        val_split=val_split,
        data_seed=data_seed,
    )
    try:
        result = run_simulation(
            specs,
            loop,
            data,
            out,
            train_overrides=overrides,
            console=console,
            show_progress=progress,
        )
    except ValueError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    for kind, path in result.paths.items():
        console.print(f"{kind}: {path}")


_register_remote(app)  # login, pools, upload, import, export, cycles, next-batch (remote)
_register_models(app)  # weights fetch|import, predict

if __name__ == "__main__":
    app()
