"""A real alp API process (uvicorn subprocess, SQLite) and headless Chromium for the
dashboard browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import sessionmaker

from alp import runtime
from alp.config import Settings
from alp.db import make_engine, make_sessionmaker
from alp.db.migrate import upgrade
from alp.services import keys
from alp.storage import LocalStorage
from tests.support.databases import REQUIRE_ENV
from tests.support.processes import ROOT, stop_process, test_env, wait_for

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    port = free_port()
    log = data_dir / "api.log"
    proc = subprocess.Popen(
        runtime.api_command("127.0.0.1", port),
        env=test_env(settings),
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"API exited early: {log.read_text()[-2000:]}")
        try:
            return httpx.get(f"{base}/login", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, timeout=90, interval=0.2, what="the API server")
        assert settings.storage_dir is not None
        yield Server(base, settings, sessions, LocalStorage(settings.storage_dir), key, log)
    finally:
        stop_process(proc)
        engine.dispose()


def require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"headless Chromium not found at {CHROMIUM} ({REQUIRE_ENV}=1)")
    pytest.skip(f"headless Chromium not found at {CHROMIUM} (apt-get install chromium)")
