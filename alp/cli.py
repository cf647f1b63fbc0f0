"""The ``alp`` command line (typer). Torch is imported only by commands that need it."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from alp.config import Settings

app = typer.Typer(
    help="alp: active-learning annotation pipeline for object detection.", no_args_is_help=True
)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
console = Console(stderr=True)


def _settings(data_dir: Path | None = None, **extra: object) -> Settings:
    overrides: dict[str, object] = {k: v for k, v in extra.items() if v is not None}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    s = Settings(**overrides)  # type: ignore[arg-type]
    s.ensure_dirs()
    return s


def _migrate(s: Settings) -> None:
    from alp.db.migrate import DatabaseAheadError, upgrade

    try:
        upgrade(s.database_url)
    except DatabaseAheadError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc


@app.command()
def migrate(data_dir: Path | None = typer.Option(None, help="Data directory.")) -> None:
    """Create or upgrade the database schema to this version."""
    s = _settings(data_dir)
    _migrate(s)
    console.print("database is up to date")


@keys_app.command("create")
def keys_create(
    name: str, data_dir: Path | None = typer.Option(None, help="Data directory.")
) -> None:
    """Create an API key and print it once (it cannot be shown again)."""
    from alp.db import make_engine, make_sessionmaker
    from alp.services import keys

    s = _settings(data_dir)
    _migrate(s)
    with make_sessionmaker(make_engine(s.database_url))() as db:
        new = keys.create_key(db, name)
        db.commit()
    typer.echo(new.key)


@app.command()
def up(
    host: str = typer.Option("127.0.0.1", help="Bind address."),
    port: int = typer.Option(8000, help="Port."),
    data_dir: Path | None = typer.Option(None, help="Data directory (default ./alp-data)."),
    demo: bool = typer.Option(False, help="Create a synthetic demo pool with an annotator."),
    worker: bool = typer.Option(True, help="Also start one worker process on all queues."),
) -> None:
    """Start the API and one Celery worker (embedded SQLite + SQLite broker by default)."""
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
    url = s.public_base_url.rstrip("/")
    console.print(
        f"alp is starting: dashboard [bold]{url}/[/bold]  API {url}/api/v1  docs {url}/docs"
    )
    if new is not None:
        console.print(f"admin API key (shown once): [bold]{new.key}[/bold]")
    env = runtime.child_env(s)
    commands = [runtime.api_command(host, port)]
    if worker:
        commands.append(runtime.worker_command(s, "gpu,io", 1, beat=True))
    if demo:
        commands.append([sys.executable, "-m", "worker.demo"])
    raise typer.Exit(runtime.supervise(commands, env))


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


if __name__ == "__main__":
    app()
