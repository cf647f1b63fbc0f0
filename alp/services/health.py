"""Liveness: database reachability and a worker round trip through the broker."""

from __future__ import annotations

import secrets
import socket
import time
from datetime import datetime

from celery import Celery
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from alp import jobs
from alp.db import WorkerHeartbeat, utcnow
from alp.storage import Storage, StorageUnavailable


def database_status(db: Session) -> str:
    try:
        db.execute(text("SELECT 1"))
        return "ok"
    except Exception as exc:  # reported, never raised
        return f"error: {exc.__class__.__name__}"


def record_pong(db: Session, nonce: str, hostname: str | None = None) -> None:
    """Called by the ``alp.ping`` task inside a worker."""
    host = hostname or socket.gethostname()
    row = db.get(WorkerHeartbeat, host)
    if row is None:
        db.add(WorkerHeartbeat(hostname=host, nonce=nonce, last_seen=utcnow()))
    else:
        row.nonce, row.last_seen = nonce, utcnow()
    db.flush()


def worker_status(sessions: sessionmaker, celery: Celery, wait_s: float) -> dict[str, object]:
    """Send a ping task and poll (with a deadline) for the worker's pong."""
    nonce = secrets.token_hex(8)
    try:
        jobs.send(celery, jobs.PING, nonce)
    except Exception as exc:
        return {"status": "unreachable", "reason": f"broker: {exc.__class__.__name__}: {exc}"}
    deadline = time.monotonic() + wait_s
    last_seen: datetime | None = None
    while True:
        with sessions() as db:
            rows = db.execute(select(WorkerHeartbeat.nonce, WorkerHeartbeat.last_seen)).all()
        for n, seen in rows:
            last_seen = seen if last_seen is None or seen > last_seen else last_seen
            if n == nonce:
                return {"status": "ok", "last_seen": seen.isoformat()}
        if time.monotonic() >= deadline:
            out: dict[str, object] = {"status": "unreachable", "reason": "no worker answered"}
            if last_seen is not None:
                out["last_seen"] = last_seen.isoformat()
            return out
        time.sleep(0.1)


def storage_status(storage: Storage) -> str:
    """``"ok"`` or why the blob store cannot be used (unreachable, credentials, bucket)."""
    try:
        storage.check()
    except StorageUnavailable as exc:
        return str(exc)
    return "ok"
