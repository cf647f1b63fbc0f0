"""Per-process resources for tasks (created lazily, after the worker has forked)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from celery import Celery
from sqlalchemy.orm import Session, sessionmaker

from alp.config import Settings, get_settings
from alp.db import make_engine, make_sessionmaker
from alp.storage import BlobCache, Storage, open_storage, storage_url
from alp.storage.factory import open_cache

_CELERY: list[Celery] = []  # the app handed in by ``use_celery`` (at most one)


def use_celery(app: Celery) -> None:
    """Hand in the worker's Celery app (:mod:`worker.app` does at worker start): sessions
    send the tasks their commits enqueue (``alp.outbox``) through it."""
    _CELERY[:] = [app]
    _sessions.cache_clear()


def celery() -> Celery:
    """The app handed in by :func:`use_celery`; outside a worker (tests, benchmarks) an
    ``alp.jobs`` app from the settings, made once, which sends by task name just the same."""
    if not _CELERY:
        from alp.jobs import make_celery

        _CELERY.append(make_celery())
    return _CELERY[0]


@lru_cache
def _sessions(pid: int, url: str) -> sessionmaker:
    return make_sessionmaker(make_engine(url), celery())


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


def storage() -> Storage:
    """The configured blob store (``ALP_STORAGE_URL``)."""
    return open_storage(settings())


@lru_cache(maxsize=8)
def _cache(pid: int, url: str, root: str, max_bytes: int) -> BlobCache:
    return open_cache(settings())


def cache() -> BlobCache:
    """This worker's bounded local copy of blobs it reads as files (images, checkpoints);
    one per process and configuration (in-process tests change the settings)."""
    s = settings()
    return _cache(os.getpid(), storage_url(s), str(s.cache_dir), s.cache_max_bytes)
