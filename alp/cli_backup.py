"""``alp backup OUT`` and ``alp restore IN`` (see :mod:`alp.backup`)."""

from __future__ import annotations

from pathlib import Path

import typer

from alp.errors import AlpError


def backup(
    out: Path = typer.Argument(..., help="New (or empty) directory to write the backup to."),
    data_dir: Path | None = typer.Option(None, help="Data directory."),
) -> None:
    """Snapshot the database (online: the server may keep running) and copy every stored
    file into OUT."""
    from alp import backup as bk
    from alp.cli import _settings, console

    try:
        manifest = bk.backup(_settings(data_dir), out)
    except AlpError as exc:
        console.print(f"alp: backup failed: {exc.detail}", markup=False, highlight=False)
        raise typer.Exit(2) from exc
    typer.echo(
        f"backup of the {manifest['engine']} database and {manifest['blobs']} files in {out}"
    )


def restore(
    src: Path = typer.Argument(..., help="A directory written by `alp backup`."),
    data_dir: Path | None = typer.Option(None, help="Data directory."),
) -> None:
    """Restore a backup into an EMPTY database and storage, then migrate it to this
    version (stop the server and workers first)."""
    from alp import backup as bk
    from alp.cli import _migrate, _settings, console

    s = _settings(data_dir)
    try:
        manifest = bk.restore(s, src)
    except AlpError as exc:
        console.print(f"alp: restore refused: {exc.detail}", markup=False, highlight=False)
        raise typer.Exit(2) from exc
    _migrate(s)
    typer.echo(f"restored the {manifest['engine']} database and {manifest['blobs']} files")
