"""The backtest page: progress while it runs; then the learning curves (inline SVG), the
results table, the paired comparisons, the recommendation and a one-click "apply" (a
cookie-authenticated ``POST /api/v1/backtests/{id}/apply``, PATCH semantics)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from alp.errors import NotFound
from alp.services import backtests, pools
from api.dashboard import backtest_chart
from api.dashboard.pages import POLL_MS, _render, _signed_in, _to_login
from api.deps import DB, Id

router = APIRouter(include_in_schema=False)


@router.get("/backtests/{backtest_id}", response_class=HTMLResponse)
def backtest_page(request: Request, backtest_id: Id, db: DB) -> Response:
    key = _signed_in(request, db)
    if key is None:
        return _to_login(request)
    try:
        bt = backtests.to_out(db, backtests.get_backtest(db, backtest_id))
    except NotFound as exc:
        return _render(request, "error.html", 404, key=key, message=exc.detail)
    pool = pools.get_pool(db, bt.pool_id)
    runs = (bt.results or {}).get("runs", [])
    return _render(
        request, "backtest.html", key=key, bt=bt, pool=pool, chart=backtest_chart.curves(runs),
        applied=pool.settings.get("strategy_backtest_id") == bt.id, poll_ms=POLL_MS,
    )  # fmt: skip
