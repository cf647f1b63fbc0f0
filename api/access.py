"""Who may call what: the one route × role table, and its enforcement.

``ROUTES`` maps every route (``"METHOD /full/path"``) to a group; ``GROUPS`` says which
roles a group admits. ``api.deps.require_key`` (every keyed router's router-level
dependency, ``api.deps.KEYED``) looks the matched route up here, so the whole policy is
this data: docs/access.md's table is generated from it (``markdown_table``) and
``tests/api/test_access.py`` walks it for every role. A route missing from ``ROUTES``
falls back to ``read`` for GET and ``edit`` for other methods (the test fails until the
route is listed).

Pool-limited keys: a route that names a pool (``pool_id``) or a row inside one
(``image_id``, ``cycle_id``, ``job_id``, ``selection_id``) answers **404** for any other
pool, exactly as if the row did not exist (nothing leaks); the pool lists (``LISTS``) show
only the key's pools; any other route is **403** for a pool-limited key.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, routing
from fastapi.routing import APIRoute
from sqlalchemy import select
from sqlalchemy.orm import Session

from alp.db import ApiKey, Backtest, Cycle, Image, Job, Selection
from alp.errors import Forbidden, NotFound
from alp.services.keys import ROLES

V1 = "/api/v1"
PUBLIC = "public"  # no key at all (health, webhook with its own secret, sign-in)
SIGNED_IN = "signed-in"  # dashboard HTML pages: any role's session cookie
GROUPS: dict[str, tuple[str, ...]] = {
    PUBLIC: ROLES,
    SIGNED_IN: ROLES,
    "read": ROLES,
    "annotate": ("admin", "editor", "annotator"),
    "edit": ("admin", "editor"),
    "admin": ("admin",),
}
ROUTES: dict[str, str] = {
    # pools
    f"POST {V1}/pools": "edit",
    f"GET {V1}/pools": "read",
    f"GET {V1}/pools/{{pool_id}}": "read",
    f"PATCH {V1}/pools/{{pool_id}}": "edit",
    f"DELETE {V1}/pools/{{pool_id}}": "edit",
    # images
    f"POST {V1}/pools/{{pool_id}}/images": "edit",
    f"POST {V1}/pools/{{pool_id}}/images/lookup": "edit",
    f"GET {V1}/pools/{{pool_id}}/images": "read",
    f"GET {V1}/images/{{image_id}}": "read",
    f"DELETE {V1}/images/{{image_id}}": "edit",
    f"GET {V1}/images/{{image_id}}/content": "read",
    # annotations
    f"PUT {V1}/images/{{image_id}}/annotation": "annotate",
    f"GET {V1}/images/{{image_id}}/annotation": "read",
    f"GET {V1}/images/{{image_id}}/annotation/history": "read",
    # import / export
    f"POST {V1}/pools/{{pool_id}}/import/coco": "edit",
    f"GET {V1}/pools/{{pool_id}}/export/coco": "read",
    f"POST {V1}/pools/{{pool_id}}/import/{{fmt}}": "edit",
    f"GET {V1}/pools/{{pool_id}}/export/{{fmt}}": "read",
    # cycles and jobs
    f"POST {V1}/pools/{{pool_id}}/cycles": "edit",
    f"GET {V1}/pools/{{pool_id}}/cycles": "read",
    f"GET {V1}/cycles/{{cycle_id}}": "read",
    f"POST {V1}/cycles/{{cycle_id}}/retry": "edit",
    f"POST {V1}/cycles/{{cycle_id}}/cancel": "edit",
    f"GET {V1}/pools/{{pool_id}}/next-batch": "annotate",
    f"GET {V1}/jobs/{{job_id}}": "read",
    # models and predictions
    f"GET {V1}/cycles/{{cycle_id}}/model": "read",
    f"GET {V1}/pools/{{pool_id}}/model": "read",
    f"POST {V1}/pools/{{pool_id}}/predictions": "edit",
    # backtests
    f"POST {V1}/pools/{{pool_id}}/backtests": "edit",
    f"GET {V1}/pools/{{pool_id}}/backtests": "read",
    f"GET {V1}/backtests/{{backtest_id}}": "read",
    f"POST {V1}/backtests/{{backtest_id}}/cancel": "edit",
    f"POST {V1}/backtests/{{backtest_id}}/apply": "edit",
    # Label Studio
    f"POST {V1}/pools/{{pool_id}}/labelstudio": "edit",
    f"GET {V1}/pools/{{pool_id}}/labelstudio": "read",
    f"POST {V1}/pools/{{pool_id}}/labelstudio/sync": "edit",
    f"DELETE {V1}/pools/{{pool_id}}/labelstudio": "edit",
    f"POST {V1}/webhooks/label-studio": PUBLIC,
    # dashboard data
    f"GET {V1}/dashboard/pools": "read",
    f"GET {V1}/dashboard/pools/{{pool_id}}/status": "read",
    f"GET {V1}/dashboard/pools/{{pool_id}}/gallery": "read",
    f"GET {V1}/dashboard/selections/{{selection_id}}/thumbnail": "read",
    f"GET {V1}/dashboard/images/{{image_id}}/thumbnail": "read",
    # keys
    f"GET {V1}/keys": "admin",
    f"POST {V1}/keys": "admin",
    f"DELETE {V1}/keys/{{prefix}}": "admin",
    f"GET {V1}/audit": "admin",
    # health
    "GET /healthz": PUBLIC,
    f"GET {V1}/healthz": PUBLIC,
    "GET /readyz": PUBLIC,
    f"GET {V1}/readyz": PUBLIC,
    "GET /metrics": PUBLIC,
    f"GET {V1}/metrics": PUBLIC,
    # dashboard pages
    "GET /login": PUBLIC,
    "POST /login": PUBLIC,
    "POST /logout": PUBLIC,
    "GET /favicon.ico": PUBLIC,
    "GET /": SIGNED_IN,
    "GET /pools/{pool_id}": SIGNED_IN,
    "GET /backtests/{backtest_id}": SIGNED_IN,
}
# Routes a pool-limited key may call without naming a pool: they show only its pools.
LISTS = frozenset({f"GET {V1}/pools", f"GET {V1}/dashboard/pools", "GET /"})
_SCOPED = {
    "image_id": Image, "cycle_id": Cycle, "job_id": Job, "selection_id": Selection,
    "backtest_id": Backtest,
}  # fmt: skip
_NOUN = {"pool_id": "pool", "image_id": "image", "cycle_id": "cycle", "job_id": "job",
         "backtest_id": "backtest"}  # fmt: skip
SCOPE_PARAMS = ("pool_id", *_SCOPED)  # path parameters that name a pool or a row in one


def default_group(method: str) -> str:
    """The group of a route not (yet) in ``ROUTES``: reads for viewers, writes for editors."""
    return "read" if method in ("GET", "HEAD") else "edit"


def group_of(route_id: str) -> str:
    method = route_id.split(" ", 1)[0]
    return ROUTES.get(route_id, default_group(method))


def allows(role: str, route_id: str) -> bool:
    """Whether ``role`` may call the route ``"METHOD /path"`` (pool limits aside)."""
    return role in GROUPS[group_of(route_id)]


def app_routes(app: FastAPI) -> list[tuple[str, APIRoute]]:
    """``("METHOD /full/path", route)`` for every API route, also inside included routers
    (FastAPI keeps those nested; ``iter_route_contexts`` resolves their full paths)."""
    contexts = getattr(routing, "iter_route_contexts", None)
    pairs: list[tuple[str, APIRoute]] = []
    if contexts is None:  # older FastAPI: included routes are flattened into app.routes
        pairs = [(r.path_format, r) for r in app.routes if isinstance(r, APIRoute)]
    else:
        for ctx in contexts(app.routes):
            if isinstance(ctx.original_route, APIRoute) and ctx.path_format:
                pairs.append((ctx.path_format, ctx.original_route))
    return [(f"{m} {path}", r) for path, r in pairs for m in sorted(r.methods)]


def _route_id(request: Request) -> str:
    """The matched route as ``"METHOD /full/path"`` (index built once per app)."""
    app = request.app
    index: dict[tuple[int, str], str] | None = getattr(app.state, "alp_route_ids", None)
    if index is None:
        index = {}
        for rid, route in app_routes(app):
            # A router mounted twice (health) keeps its first full path: same group anyway.
            index.setdefault((id(route), rid.split(" ", 1)[0]), rid)
        app.state.alp_route_ids = index
    route = request.scope.get("route")
    fallback = f"{request.method} {request.url.path}"
    return index.get((id(route), request.method), fallback)


def _pool_of(db: Session, name: str, value: int) -> int | None:
    """The pool of the row a path parameter names; None when the row does not exist."""
    if name == "pool_id":
        return value
    if name == "selection_id":
        stmt = select(Cycle.pool_id).join(Selection, Selection.cycle_id == Cycle.id)
        return db.scalar(stmt.where(Selection.id == value))
    table = _SCOPED[name]
    return db.scalar(select(table.pool_id).where(table.id == value))


def authorize(request: Request, db: Session, key: ApiKey) -> None:
    """Refuse (403, naming the role needed) what the key's role may not do; hide (404)
    rows of pools outside a pool-limited key's list."""
    rid = _route_id(request)
    group = group_of(rid)
    if key.role not in GROUPS[group]:
        needed = " or ".join(GROUPS[group])
        raise Forbidden(f"{rid} needs the {needed} role; this key is {key.role}")
    if key.pools is None or group == PUBLIC:
        return
    params = request.path_params
    scoped = [n for n in SCOPE_PARAMS if n in params]
    if not scoped:
        if rid in LISTS:
            return
        raise Forbidden(f"{rid} is not open to a key limited to pools {key.pools}")
    for name in scoped:
        try:
            value = int(params[name])
        except ValueError:
            return  # not an id: the route's own validation answers 422
        pool = _pool_of(db, name, value)
        if pool is not None and pool not in key.pools:
            raise NotFound(f"{_NOUN.get(name, 'selection')} {value} not found")


def visible_pools(key: ApiKey, pool_ids: list[int]) -> list[int]:
    """The subset of ``pool_ids`` the key may see (all of them for an unlimited key)."""
    return pool_ids if key.pools is None else [p for p in pool_ids if p in key.pools]


def markdown_table() -> str:
    """The route × role table as Markdown (docs/access.md prints exactly this)."""
    head = "| Route | " + " | ".join(ROLES) + " | pool-limited key |"
    lines = [head, "|" + "---|" * (len(ROLES) + 2)]
    for rid, group in ROUTES.items():
        cells = ["✓" if r in GROUPS[group] else "—" for r in ROLES]
        if group == PUBLIC:
            limited = "no key needed"
        elif rid in LISTS:
            limited = "its pools only"
        elif any(f"{{{n}}}" in rid for n in SCOPE_PARAMS):
            limited = "404 outside its pools"
        else:
            limited = "403"
        lines.append(f"| `{rid}` | " + " | ".join(cells) + f" | {limited} |")
    return "\n".join(lines)
