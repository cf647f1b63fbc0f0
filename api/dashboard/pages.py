"""HTML pages: sign-in/out, pools overview, pool page. Signed-out visitors are sent to
``/login``; nothing else is shown without a session."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from alp.db import ApiKey
from alp.errors import NotFound, Unauthorized
from alp.schemas import STRATEGY_NAMES
from alp.services import audit, backtests, dashboard, dashboard_gallery, dashboard_predictions, keys
from api import access
from api.dashboard import chart, session
from api.deps import DB, AppState, Id, state

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
STATIC = Path(__file__).parent / "static"
POLL_MS = 1500
OVERVIEW_REFRESH_MS = 3000
AUDIT_ROWS = 20  # the overview shows admins the latest audit entries
AUDIT_ROUTE = "GET /api/v1/audit"
# Same-origin assets only (works offline, no CDN); pages are never framed or cached.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
ACTIVE = ("pending", "training", "evaluating", "scoring", "selecting", "labeling")


def duration(seconds: float | None) -> str:
    """``12.3 s``, ``4 m 05 s``, ``2 h 03 m``; ``—`` for None."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(round(seconds), 60)
    if m < 60:
        return f"{m} m {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} m"


def metric(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "—"


def when(dt: datetime | None) -> str:
    return "—" if dt is None else dt.strftime("%Y-%m-%d %H:%M:%S")


def num(value: Any) -> str:
    """A score or component in at most 4 significant digits (``0.4821``, ``12``,
    ``1.235e+06``), so it fits a gallery card; non-numbers as text, ``—`` for None."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:.4g}"


templates.env.filters.update(duration=duration, metric=metric, when=when, num=num)
templates.env.globals.update(ACTIVE=ACTIVE)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _signed_in(request: Request, db: DB) -> ApiKey | None:
    st: AppState = state(request)
    return session.session_key(request, db, st.settings.resolved_secret_key())


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def _safe_next(target: str) -> str:
    ok = target.startswith("/") and not target.startswith("//") and "\\" not in target
    return target if ok else "/"


def _render(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    key: ApiKey | None = ctx.get("key")
    # Templates show a control only when ``can("METHOD /api/v1/...")``: the route table.
    ctx["can"] = lambda rid: key is not None and access.allows(key.role, rid)
    resp = templates.TemplateResponse(request, name, ctx, status_code=status)
    resp.headers.update(SECURITY_HEADERS)
    return resp


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, db: DB, next: str = "/") -> Response:
    if _signed_in(request, db) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _render(request, "login.html", next=_safe_next(next), error=None)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, db: DB, api_key: str = Form(""), next: str = Form("/")) -> Response:
    try:
        row = keys.verify_key(db, api_key.strip())
    except Unauthorized as exc:
        return _render(request, "login.html", 401, next=_safe_next(next), error=exc.detail)
    keys.touch(db, row)
    db.commit()
    resp = RedirectResponse(_safe_next(next), status_code=303)
    secret = state(request).settings.resolved_secret_key()
    session.set_cookie(resp, session.issue(secret, row.id), _secure(request))
    return resp


@router.post("/logout")
def logout(request: Request) -> Response:
    resp = RedirectResponse("/login", status_code=303)
    session.clear_cookie(resp, _secure(request))
    return resp


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, db: DB) -> Response:
    key = _signed_in(request, db)
    if key is None:
        return _to_login(request)
    rows = dashboard.overview(db)
    rows = [p for p in rows if p.id in access.visible_pools(key, [p.id for p in rows])]
    log = audit.events(db, AUDIT_ROWS) if access.allows(key.role, AUDIT_ROUTE) else None
    return _render(
        request, "overview.html", key=key, pools=rows, audit=log, poll_ms=OVERVIEW_REFRESH_MS
    )


@router.get("/pools/{pool_id}", response_class=HTMLResponse)
def pool_page(
    request: Request, pool_id: Id, db: DB, page: int = Query(1, ge=1),
    pred_page: int = Query(1, ge=1),
) -> Response:  # fmt: skip
    key = _signed_in(request, db)
    if key is None:
        return _to_login(request)
    st: AppState = state(request)
    try:
        if not access.visible_pools(key, [pool_id]):
            raise NotFound(f"pool {pool_id} not found")
        status = dashboard.pool_status(db, pool_id, st.settings.worker_stale_after_s)
    except NotFound as exc:
        return _render(request, "error.html", 404, key=key, message=exc.detail)
    gal = dashboard_gallery.gallery(db, pool_id, page)
    preds = dashboard_predictions.predictions_gallery(db, pool_id, pred_page)
    return _render(
        request,
        "pool.html",
        key=key,
        st=status,
        gal=gal,
        preds=preds,
        has_model=dashboard_predictions.has_model(db, pool_id),
        chart=chart.learning_curve(status.curve),
        strategies=STRATEGY_NAMES,
        backtests=backtests.list_backtests(db, pool_id)[:10],
        poll_ms=POLL_MS,
    )


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    """The tab icon (public, like the sign-in page)."""
    return FileResponse(
        STATIC / "favicon.ico",
        media_type="image/x-icon",
        headers={"Cache-Control": "public, max-age=604800"},
    )


def mount(app: FastAPI) -> None:
    """Serve the pages at ``/`` and the assets at ``/static`` (JSON: ``data.router``)."""
    from api.dashboard import backtest_page

    app.include_router(router)
    app.include_router(backtest_page.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
