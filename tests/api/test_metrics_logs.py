"""What an operator watches on the API: ``/metrics`` carries the broker's queue depths
(and says when the broker is down instead of failing), ``/readyz`` answers without any
worker while ``/healthz`` reports the missing worker, and ``ALP_LOG_FORMAT=json`` logs one
JSON object per line with the request's ids."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from alp import jobs, logs
from api.log_context import LogContext, path_ids
from tests.conftest import make_settings


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_report_queue_depths(tmp_path: Path, sqlite_url: str) -> None:
    from api.main import create_app

    s = make_settings(tmp_path / "data", sqlite_url)
    app = create_app(s)
    jobs.send(app.state.alp.celery, jobs.PING, "n1")
    jobs.send(app.state.alp.celery, jobs.PING, "n2")
    with TestClient(app) as c:
        r = c.get("/metrics")
    assert r.status_code == 200
    samples = _samples(r.text)
    assert samples[("alp_broker_up", ())] == 1
    assert samples[("alp_queue_depth", (("queue", "io"),))] == 2
    assert samples[("alp_queue_depth", (("queue", "gpu"),))] == 0


def test_metrics_answer_while_the_broker_is_down(tmp_path: Path, sqlite_url: str) -> None:
    from api.main import create_app
    from tests.support import s3

    url = f"redis://127.0.0.1:{s3.free_port()}/0"  # nothing listens there
    app = create_app(make_settings(tmp_path / "data", sqlite_url, broker_url=url))
    with TestClient(app) as c:
        r = c.get("/metrics")
    assert r.status_code == 200
    samples = _samples(r.text)
    assert samples[("alp_broker_up", ())] == 0
    assert not [k for k in samples if k[0] == "alp_queue_depth"]


def test_readyz_does_not_need_a_worker(tmp_path: Path, sqlite_url: str) -> None:
    from api.main import create_app

    with TestClient(create_app(make_settings(tmp_path / "data", sqlite_url))) as c:
        health = c.get("/healthz", params={"wait": 0})
        ready = c.get("/readyz")
    assert health.status_code == 200 and health.json()["worker"]["status"] != "ok"
    assert health.json()["status"] == "degraded"
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_json_log_lines_carry_the_request_ids() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter())
    log = logging.getLogger("alp.test.json")
    log.addHandler(handler)
    log.setLevel(logging.INFO)

    def route(request):  # sync: runs on a worker thread, the ids travel with the context
        log.info("hello %s", "there")
        return PlainTextResponse("ok")

    app = LogContext(Starlette(routes=[Route("/api/v1/pools/{p}/cycles/{c}", route)]))
    try:
        with TestClient(app) as c:
            assert c.get("/api/v1/pools/7/cycles/12", headers={"X-Request-ID": "r-1"}).text == "ok"
            c.get("/api/v1/pools/8/cycles/13")
    finally:
        log.removeHandler(handler)
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["message"] == "hello there" and first["level"] == "INFO"
    assert first["logger"] == "alp.test.json" and first["ts"].endswith("+00:00")
    assert (first["pool_id"], first["cycle_id"], first["request_id"]) == (7, 12, "r-1")
    assert (second["pool_id"], second["cycle_id"]) == (8, 13)
    assert second["request_id"] != "r-1" and len(second["request_id"]) == 16
    assert logs.current_ids() == {}


def test_path_ids() -> None:
    assert path_ids("/api/v1/pools/3/jobs/9") == {"pool_id": 3, "job_id": 9}
    assert path_ids("/api/v1/pools/3x/cycles") == {}
