"""Fixtures for running cycle stages in the test process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import sessionmaker

from alp.config import Settings
from tests.worker.cycle_support import engine_settings
from tests.worker.inprocess import use_settings


@pytest.fixture
def worker_ctx(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> sessionmaker:
    """``worker.context`` pointing at the (both-engine) ``settings``; returns its sessions."""
    return use_settings(monkeypatch, settings)


@pytest.fixture
def sqlite_worker(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Settings, sessionmaker]]:
    """SQLite-only settings (shards of 4 images, CPU) for tests that train a model."""
    s = engine_settings(tmp_path, sqlite_url, device="cpu")
    yield s, use_settings(monkeypatch, s)
