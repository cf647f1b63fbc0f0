"""A real alp API process (uvicorn subprocess, SQLite) and headless Chromium for the
dashboard browser tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import sessionmaker

from alp.config import Settings
from alp.db import make_engine, make_sessionmaker
from alp.db.migrate import upgrade
from alp.services import keys
from alp.storage import LocalStorage
from tests.support.databases import REQUIRE_ENV
from tests.support.processes import ROOT, api_process

CHROMIUM = os.environ.get("ALP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = ROOT / "test-output" / "screenshots"


@dataclass
class Server:
    base_url: str
    settings: Settings
    sessions: sessionmaker
    storage: LocalStorage
    key: str
    log: Path


@contextmanager
def alp_server(data_dir: Path) -> Iterator[Server]:
    """Migrated SQLite installation + ``uvicorn api.main:app`` on a free port."""
    settings = Settings(
        data_dir=data_dir, secret_key="e2e-secret", public_base_url="http://127.0.0.1"
    )
    settings.ensure_dirs()
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    with sessions() as db:
        key = keys.create_key(db, "e2e").key
        db.commit()
    log = data_dir / "api.log"
    try:
        with api_process(settings, log, ("/login", 200)) as (base, _):
            assert settings.storage_dir is not None
            yield Server(base, settings, sessions, LocalStorage(settings.storage_dir), key, log)
    finally:
        engine.dispose()


def require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"headless Chromium not found at {CHROMIUM} ({REQUIRE_ENV}=1)")
    pytest.skip(f"headless Chromium not found at {CHROMIUM} (apt-get install chromium)")
