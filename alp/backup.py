"""Backup and restore of a whole installation: the database and the stored files.

A backup is a directory: ``manifest.json``, the database (``database.sqlite3`` made with
SQLite's online backup API, or ``database.pgdump`` from ``pg_dump --format=custom``, each
a consistent snapshot taken while the server runs) and ``blobs/`` (every stored file,
copied after the snapshot). Stored files are content-addressed and never rewritten, so a
file the snapshot names is in the copy unless a deletion's blob job removed it meanwhile.

``restore`` refuses a target that holds any pool, image or key, or any stored file
(409-like ``Conflict``), and a backup of the other engine; the caller migrates afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from alp.config import Settings
from alp.db import make_engine, utcnow
from alp.errors import BadRequest, Conflict
from alp.storage import Storage, open_storage

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.pgdump"
BLOBS = "blobs"


def _engine_name(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def _sqlite_path(url: str) -> str:
    path = make_url(url).database
    if not path:
        raise BadRequest("an in-memory SQLite database cannot be backed up")
    return path


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL for pg_dump/pg_restore (the password goes in the environment)."""
    u = make_url(url)
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    return u.set(drivername="postgresql", password=None).render_as_string(False), env


def _run(cmd: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BadRequest(f"{cmd[0]} failed: {done.stderr.strip()[-500:]}")


def _storage(settings: Settings) -> Storage:
    """The configured store (local directory or S3): backup and restore use only the
    storage interface."""
    return open_storage(settings)


def backup(settings: Settings, out: Path) -> dict[str, Any]:
    """Write a backup of ``settings``' database and storage to the new directory ``out``."""
    if out.exists() and any(out.iterdir()):
        raise Conflict(f"{out} exists and is not empty")
    out.mkdir(parents=True, exist_ok=True)
    url = settings.database_url
    engine = _engine_name(url)
    if engine == "sqlite":
        src = sqlite3.connect(_sqlite_path(url))
        dst = sqlite3.connect(out / SQLITE_FILE)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
    else:
        target, env = _libpq(url)
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges",
              f"--file={out / PG_FILE}", target], env)  # fmt: skip
    storage = _storage(settings)
    blobs = 0
    for key in storage.iter_keys():
        dest = out / BLOBS / key
        dest.parent.mkdir(parents=True, exist_ok=True)
        with storage.open(key) as fsrc, dest.open("wb") as fdst:
            shutil.copyfileobj(fsrc, fdst)
        blobs += 1
    manifest = {"format": FORMAT, "engine": engine, "created_at": utcnow().isoformat(),
                "blobs": blobs}  # fmt: skip
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def _has_data(url: str) -> bool:
    eng = make_engine(url)
    try:
        names = set(inspect(eng).get_table_names())
        with eng.connect() as conn:
            for table in ("pools", "images", "api_keys"):
                if table in names and conn.execute(text(f"SELECT 1 FROM {table} LIMIT 1")).first():
                    return True
        return False
    finally:
        eng.dispose()


def restore(settings: Settings, src: Path) -> dict[str, Any]:
    """Restore the backup directory ``src`` into ``settings``' empty database and storage."""
    try:
        manifest = json.loads((src / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadRequest(f"{src} is not an alp backup (no readable {MANIFEST})") from exc
    if manifest.get("format") != FORMAT:
        raise BadRequest(f"unsupported backup format {manifest.get('format')!r}")
    url = settings.database_url
    if manifest.get("engine") != _engine_name(url):
        raise BadRequest(
            f"the backup is of a {manifest.get('engine')} database; "
            f"ALP_DATABASE_URL is {_engine_name(url)} (restore into the same engine)"
        )
    storage = _storage(settings)
    if _has_data(url) or next(iter(storage.iter_keys()), None) is not None:
        raise Conflict("restore needs an empty database and storage; this one has data")
    if manifest["engine"] == "sqlite":
        s = sqlite3.connect(src / SQLITE_FILE)
        d = sqlite3.connect(_sqlite_path(url))
        try:
            s.backup(d)
        finally:
            d.close()
            s.close()
    else:
        target, env = _libpq(url)
        _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges",
              "--single-transaction", f"--dbname={target}", str(src / PG_FILE)], env)  # fmt: skip
    blob_root = src / BLOBS
    if blob_root.is_dir():
        for path in sorted(blob_root.rglob("*")):
            if path.is_file():
                storage.put_file(path.relative_to(blob_root).as_posix(), path)
    return manifest
