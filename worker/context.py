"""Per-process resources for tasks (created lazily, after the worker has forked)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy.orm import Session, sessionmaker

from alp.config import Settings, get_settings
from alp.db import make_engine, make_sessionmaker
from alp.storage import LocalStorage


@lru_cache
def _sessions(pid: int, url: str) -> sessionmaker:
    from worker.app import celery_app

    return make_sessionmaker(make_engine(url), celery_app)


def settings() -> Settings:
    return get_settings()


def sessions() -> sessionmaker:
    return _sessions(os.getpid(), settings().database_url)


@contextmanager
def session() -> Iterator[Session]:
    db = sessions()()
    try:
        yield db
    finally:
        db.close()


def storage() -> LocalStorage:
    s = settings()
    assert s.storage_dir is not None
    return LocalStorage(s.storage_dir)
