"""Workers' Prometheus metrics and JSON logs, from real worker processes.

``alp up``'s layout (a gpu and an io worker, prefork pools, the SQLite broker) with
``ALP_WORKER_METRICS_PORT``: tasks run in pool processes of both workers, and one scrape
of the port shows them all (multiprocess mode over the shared data dir), with the queue
depths read from the broker (the second worker finds the port taken and says so).
``ALP_LOG_FORMAT=json`` makes every worker log line a JSON
object carrying the task's id.
"""

from __future__ import annotations

import json
import secrets
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from alp import jobs
from tests.conftest import make_settings
from tests.support.processes import embedded_workers, free_port, wait_for


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Samples by (name, sorted labels); {} while nothing listens yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return {}
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_workers_serve_stage_metrics_and_log_json(tmp_path: Path, sqlite_url: str) -> None:
    s = make_settings(tmp_path / "data", sqlite_url)
    port = free_port()
    app = jobs.make_celery(s)
    env = {"ALP_WORKER_METRICS_PORT": str(port), "ALP_LOG_FORMAT": "json"}
    logs_dir = tmp_path / "logs"
    logs_dir.mkdir()
    with embedded_workers(s, logs_dir, **env) as procs:
        for _ in range(3):
            jobs.send(app, jobs.PING, secrets.token_hex(4))  # io worker
        app.send_task(jobs.CYCLE_TRAIN, args=[], queue="gpu")  # raises TypeError (gpu)

        def settled() -> dict | None:
            assert all(p.poll() is None for p in procs), "a worker died"
            samples = _scrape(port)
            done = (
                samples.get(("alp_stage_duration_seconds_count", (("stage", "ping"),))) == 3
                and samples.get(("alp_stage_failures_total", (("stage", "train"),))) == 1
            )
            return samples if done else None

        samples = wait_for(settled, timeout=120, interval=0.5, what="the workers' metrics")
    assert samples[("alp_broker_up", ())] == 1
    assert samples[("alp_queue_depth", (("queue", "gpu"),))] == 0
    assert samples[("alp_queue_depth", (("queue", "io"),))] == 0
    assert samples[("alp_stage_duration_seconds_count", (("stage", "train"),))] == 1
    assert samples[("alp_images_scored_total", ())] == 0
    lines = [
        json.loads(line)
        for f in logs_dir.glob("*.log")
        for line in f.read_text().splitlines()
        if line.startswith("{")
    ]
    assert lines, "no JSON log line"
    for line in lines:
        assert {"ts", "level", "logger", "message"} <= line.keys()
    messages = [x["message"] for x in lines]
    assert sum(m.startswith(f"worker metrics on :{port}/") for m in messages) == 1
    assert sum("not served by this worker" in m for m in messages) == 1  # the other one
    failed = [x for x in lines if x.get("task") == jobs.CYCLE_TRAIN and x["level"] == "ERROR"]
    assert failed and failed[0]["task_id"] and "TypeError" in failed[0].get("exc", "")
