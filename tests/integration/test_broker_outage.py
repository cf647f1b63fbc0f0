"""Broker unreachable when a cycle starts (SQLite broker whose folder is missing; Redis
port that refuses connections): ``POST /pools/{id}/cycles`` still answers 202 (the cycle
is stored), its job says ``waiting for broker: <reason>``, and once the broker is back the
outbox delivers the message within seconds and the job says ``queued`` again."""

from __future__ import annotations

import ast
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from alp import jobs, outbox
from alp.db import make_engine, make_sessionmaker
from alp.services import keys
from alp.storage import LocalStorage
from tests.api.cycle_fixtures import make_pool
from tests.conftest import make_settings
from tests.support import databases
from tests.support.processes import wait_for
from tests.support.tcp_proxy import TcpProxy


@dataclass
class Outage:
    broker_url: str
    restore: Callable[[], None]
    train_messages: Callable[[], list[list[int]]]  # args of alp.cycle.train messages


@pytest.fixture
def outage(tmp_path: Path, db_url: str) -> Iterator[Outage]:
    if db_url.startswith("sqlite"):
        folder = tmp_path / "broker"  # missing: "unable to open database file"

        def sqlite_messages() -> list[list[int]]:
            if not (folder / "broker.db").exists():
                return []
            with sqlite3.connect(folder / "broker.db") as con:
                rows = con.execute("SELECT payload FROM kombu_message").fetchall()
            return _train_args(r[0] for r in rows)

        yield Outage(f"sqla+sqlite:///{folder / 'broker.db'}", folder.mkdir, sqlite_messages)
        return
    import redis

    base = databases.redis_base_url()
    assert base, f"{databases.REDIS_ENV} must be set with {databases.PG_ENV}"
    real = redis.Redis.from_url(base)
    real.flushdb()
    parts = urlsplit(base)
    proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 6379))
    url = parts._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()
    try:
        yield Outage(url, proxy.start, lambda: _train_args(real.lrange("gpu", 0, -1)))
    finally:
        proxy.stop()
        real.flushdb()


def _train_args(payloads: object) -> list[list[int]]:
    out = []
    for raw in payloads:  # type: ignore[attr-defined]
        msg = json.loads(raw)
        if msg["headers"]["task"] == jobs.CYCLE_TRAIN:
            out.append(list(ast.literal_eval(msg["headers"]["argsrepr"])))
    return out


def test_cycle_start_with_broker_down_waits_then_is_delivered(
    tmp_path: Path, db_url: str, outage: Outage
) -> None:
    from api.main import create_app

    s = make_settings(tmp_path / "data", db_url, broker_url=outage.broker_url)
    s.ensure_dirs()
    engine = make_engine(s.database_url)
    sessions = make_sessionmaker(engine)
    with sessions() as db:
        pid, _ = make_pool(db, LocalStorage(s.storage_dir))
        key = keys.create_key(db, "t").key
        db.commit()
    with TestClient(create_app(s)) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        t0 = time.monotonic()
        r = client.post(f"/api/v1/pools/{pid}/cycles")
        assert r.status_code == 202, r.text
        assert time.monotonic() - t0 < 15, "the refused send must not hang the request"
        job = r.json()["job"]
        assert job["state"] == "queued"
        assert job["message"].startswith("waiting for broker: "), job
        assert len(job["message"]) > len("waiting for broker: ")  # with the reason
        cycle = client.get(f"/api/v1/cycles/{r.json()['cycle']['id']}").json()
        assert cycle["state"] == "pending"
        assert cycle["jobs"][0]["message"].startswith("waiting for broker")
        assert outbox.waiting() >= 1

        outage.restore()
        back = time.monotonic()
        wait_for(lambda: outage.train_messages() == [[job["id"]]], timeout=20,
                 what="the train message in the broker")  # fmt: skip
        delivered_after = time.monotonic() - back
        assert delivered_after < s.outbox_retry_max_s + 5, delivered_after
        wait_for(
            lambda: client.get(f"/api/v1/jobs/{job['id']}").json()["message"] == "queued",
            timeout=10,
            what="the job's message back to queued",
        )
        assert outbox.waiting() == 0
    engine.dispose()
