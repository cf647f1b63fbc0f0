"""The backtest page in headless Chromium against a real alp API process (SQLite): the
curves render, "Apply" patches the pool and the page says so, the pool page links the
backtest, and cancelling a queued backtest reloads the page into its final state."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from alp.db import Backtest, Job
from alp.schemas_backtests import BacktestCreate
from alp.services import backtests
from simulation.synthetic_pool import create_synthetic_pool
from tests.api.test_backtests_dashboard import fake_results
from tests.e2e.dashboard_server import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Server,
    alp_server,
    require_chromium,
)
from tests.e2e.test_dashboard_browser import shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
expect.set_options(timeout=15_000)
BODY = BacktestCreate(strategies=["entropy:vanilla", "random:vanilla"], initial=10, budget=5,
                      rounds=2, seeds=2, test_size=10)  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    require_chromium()
    with alp_server(tmp_path_factory.mktemp("bt") / "data") as srv:
        yield srv


@pytest.fixture
def page(server: Server):
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        ctx = b.new_context(base_url=server.base_url, viewport={"width": 1366, "height": 900})
        yield ctx.new_page()
        b.close()


def seed(server: Server, name: str, finished: bool) -> tuple[int, int]:
    with server.sessions() as db:
        settings = {"strategy": "random", "train_preset": "vanilla"}
        pool = create_synthetic_pool(db, server.storage, name, n_labeled=30, n_val=0,
                                     n_unlabeled=0, size=16, settings=settings)  # fmt: skip
        row = backtests.start(db, pool.pool_id, BODY)
        if finished:
            row.state, row.results = "succeeded", fake_results()
            db.get(Job, row.job_id).state = "succeeded"
        db.commit()
        return pool.pool_id, row.id


def test_apply_from_the_backtest_page(page, server: Server) -> None:
    _pid, bid = seed(server, "bt-apply", finished=True)
    sign_in(page, server, f"/backtests/{bid}")
    expect(page.locator('g[data-run="entropy:vanilla"] polyline')).to_be_visible()
    expect(page.locator("[data-recommendation]")).to_contain_text("Use entropy:vanilla")
    page.get_by_role("button", name="Apply entropy:vanilla to the pool").click()
    expect(page.locator("#flash")).to_contain_text("Strategy entropy:vanilla applied")
    expect(page.get_by_text("is justified by this backtest")).to_be_visible()
    shot(page, "backtest.png")
    page.get_by_role("link", name=page.locator(".crumbs a").nth(1).inner_text()).click()
    expect(page.locator("[data-strategy-backtest]")).to_contain_text(f"backtest {bid}")
    expect(page.get_by_role("link", name=f"Backtest {bid}", exact=True)).to_be_visible()


def test_cancel_reloads_into_the_final_state(page, server: Server) -> None:
    _pid, bid = seed(server, "bt-cancel", finished=False)
    sign_in(page, server, f"/backtests/{bid}")
    page.get_by_role("button", name="Cancel backtest").click()
    expect(page.locator("h1 .badge")).to_have_text("cancelled")
    expect(page.get_by_role("button", name="Cancel backtest")).to_have_count(0)
    with server.sessions() as db:
        assert db.get(Backtest, bid).state == "cancelled"
