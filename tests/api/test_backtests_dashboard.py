"""The backtest dashboard page (SQLite and PostgreSQL): curves as inline SVG, the results
and comparison tables, the recommendation and its one-click apply; the pool page links
the backtests and names the one that justified the strategy, and later cycles show it."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from alp.db import Backtest, Job
from simulation.backtest import run_backtest
from simulation.data import SimulationData
from simulation.spec import LoopOptions, RunSpec
from tests.api.test_backtests_api import BODY, labeled_pool
from tests.simulation.test_loop import FakeBackend
from worker.backtest_task import plain, summarize


def fake_results() -> dict:
    """Real engine output (fake detector that rewards entropy's picks): a decisive win."""
    pool = [{"image_id": i, "labels": [i % 2] * (1 + i % 3)} for i in range(40)]
    data = SimulationData(["a", "b"], pool, [], [], source="test")
    specs = [RunSpec("entropy", "vanilla"), RunSpec("random", "vanilla")]
    opts = LoopOptions(initial=6, budget=5, cycles=3, seeds=(0, 1, 2))
    out = run_backtest(data, specs, opts, lambda _d: FakeBackend(), references=["random:vanilla"])
    return plain(summarize(out, specs, 40, 0, 1.5))


def test_backtest_page_apply_and_pool_links(
    anon_client: TestClient, api_key: str, sessions, settings
) -> None:
    c = anon_client
    assert c.post("/login", data={"api_key": api_key}, follow_redirects=False).status_code == 303
    pid = labeled_pool(sessions, settings, n=30, unlabeled=2, strategy="random")
    csrf = {"X-ALP-CSRF": "1"}
    body = {**BODY, "strategies": ["entropy:vanilla", "random:vanilla"]}
    bid = c.post(f"/api/v1/pools/{pid}/backtests", json=body, headers=csrf).json()["id"]
    running = c.get(f"/backtests/{bid}")
    assert running.status_code == 200 and "data-refresh-ms" in running.text
    assert f'data-post="/api/v1/backtests/{bid}/cancel"' in running.text
    with sessions() as db:
        row = db.get(Backtest, bid)
        row.state, row.results = "succeeded", fake_results()
        db.get(Job, row.job_id).state = "succeeded"
        db.commit()
    page = c.get(f"/backtests/{bid}").text
    assert "data-refresh-ms" not in page
    assert len(re.findall(r'<g data-run="(entropy|random):vanilla">', page)) == 2
    assert page.count("<polygon") == 2  # the ± std bands
    assert '<tr data-run="entropy:vanilla">' in page and 'id="bt-comparisons"' in page
    assert "Use entropy:vanilla: entropy:vanilla beats random:vanilla" in page
    assert f'data-post="/api/v1/backtests/{bid}/apply"' in page
    pool_page = c.get(f"/pools/{pid}").text
    assert f'href="/backtests/{bid}"' in pool_page and "data-strategy-backtest" not in pool_page
    r = c.post(f"/api/v1/backtests/{bid}/apply", headers=csrf)
    assert r.status_code == 200 and r.json()["settings"]["strategy"] == "entropy"
    assert "is justified by this backtest" in c.get(f"/backtests/{bid}").text
    assert "data-strategy-backtest" in c.get(f"/pools/{pid}").text
    r = c.post(f"/api/v1/pools/{pid}/cycles", headers=csrf)
    assert r.status_code == 202, r.text
    cycle = r.json()["cycle"]
    assert (cycle["strategy"], cycle["strategy_backtest_id"]) == ("entropy", bid)
    timeline = c.get(f"/pools/{pid}").text
    assert f'entropy · <a href="/backtests/{bid}">backtest {bid}</a>' in timeline
    assert c.get("/backtests/999999").status_code == 404
