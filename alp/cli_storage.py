"""``alp storage check [--fix]``: orphans and missing blobs (``alp.services.storage_check``)."""

from __future__ import annotations

import json

import typer

from alp.config import Settings

storage_app = typer.Typer(help="Inspect the blob store (ALP_STORAGE_URL).", no_args_is_help=True)


@storage_app.command("check")
def check_cmd(
    fix: bool = typer.Option(False, "--fix", help="Delete the orphans found."),
    min_age_s: float = typer.Option(
        3600, "--min-age", help="Only blobs older than this many seconds can be orphans."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """List blobs no row refers to (orphans) and rows whose blob is missing.

    Exit status 0 when consistent (or every orphan was removed and nothing is missing),
    1 otherwise."""
    from alp.db import make_engine, make_sessionmaker
    from alp.services.storage_check import check
    from alp.storage import open_storage

    s = Settings()
    storage = open_storage(s)
    with make_sessionmaker(make_engine(s.database_url))() as db:
        report = check(db, storage, fix=fix, min_age_s=min_age_s)
    if as_json:
        typer.echo(json.dumps(report.__dict__, indent=2))
    else:
        typer.echo(f"{storage.url}: {report.blobs} blobs")
        for key in report.orphans:
            typer.echo(f"orphan  {key}")
        for what in report.missing:
            typer.echo(f"missing {what}")
        typer.echo(
            f"{len(report.orphans)} orphans ({report.orphan_bytes} bytes"
            f"{', removed' if fix else ''}), {len(report.missing)} missing"
        )
    bad = report.missing or (report.orphans and not fix)
    raise typer.Exit(1 if bad else 0)
