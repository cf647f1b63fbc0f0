"""``alp keys create|list|revoke``: API keys, straight on the local database (like
``alp migrate``); the same as ``/api/v1/keys`` for admins over REST."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from sqlalchemy.orm import Session

from alp.errors import AlpError

keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
DATA_DIR = typer.Option(None, help="Data directory.")


@contextmanager
def _db(data_dir: Path | None) -> Iterator[Session]:
    from alp.cli import _migrate, _settings, console
    from alp.db import make_engine, make_sessionmaker

    s = _settings(data_dir)
    _migrate(s)
    engine = make_engine(s.database_url)
    try:
        with make_sessionmaker(engine)() as db:
            try:
                yield db
            except AlpError as exc:
                console.print(f"alp: {exc.detail}", markup=False, highlight=False)
                raise typer.Exit(2) from exc
    finally:
        engine.dispose()


def _when(dt: object) -> str:
    return "-" if dt is None else str(dt)[:19]


@keys_app.command("create")
def keys_create(
    name: str,
    role: str = typer.Option("admin", help="admin | editor | annotator | viewer."),
    pool: list[int] = typer.Option([], "--pool", help="Limit the key to this pool id (repeat)."),
    expires: str | None = typer.Option(None, help="Lifetime like 30d, 12h or 90m."),
    data_dir: Path | None = DATA_DIR,
) -> None:
    """Create an API key and print it once (it cannot be shown again)."""
    from alp.services import audit, keys

    with _db(data_dir) as db:
        lifetime = None if expires is None else keys.parse_duration(expires)
        new = keys.create_key(db, name, role=role, pools=pool or None, expires_in=lifetime)
        prefix = new.key.split("_")[1]
        details = {"name": new.name, "role": role, "pools": pool or None, "expires_in": expires}
        audit.record(db, "cli", "key.created", f"key {prefix}", **details)
        db.commit()
    typer.echo(new.key)


@keys_app.command("list")
def keys_list(data_dir: Path | None = DATA_DIR) -> None:
    """Every key: prefix, name, role, pools, created, last used, expiry, state."""
    from alp.services import keys

    typer.echo("prefix\tname\trole\tpools\tcreated\tlast_used\texpires\tstate")
    with _db(data_dir) as db:
        for k in keys.list_keys(db):
            pools = "all" if k.pools is None else ",".join(map(str, k.pools))
            state = keys.inactive_reason(k) or "active"
            cells = [k.prefix, k.name, k.role, pools, _when(k.created_at)]
            cells += [_when(k.last_used_at), _when(k.expires_at), state.removeprefix("API key ")]
            typer.echo("\t".join(cells))


@keys_app.command("revoke")
def keys_revoke(prefix: str, data_dir: Path | None = DATA_DIR) -> None:
    """Revoke the key with this prefix: REST answers 401, its dashboard sessions end."""
    from alp.services import audit, keys

    with _db(data_dir) as db:
        row = keys.revoke_key(db, prefix)
        audit.record(db, "cli", "key.revoked", f"key {row.prefix}", name=row.name)
        db.commit()
        typer.echo(f"revoked {row.prefix} ({row.name})")
