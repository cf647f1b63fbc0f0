"""The OpenAPI document, made to describe what the server actually answers.

FastAPI documents its own validation error (``HTTPValidationError``: a list of objects),
but every error of this API is ``{"detail": "<reason>"}`` (``api.errors``). Here the
generated document is post-processed once:

- the ``Error`` schema replaces ``HTTPValidationError`` / ``ValidationError``;
- every operation lists its error statuses with the ``Error`` body: 422 where it takes
  input, 401/403 where it needs an API key (or the dashboard's session cookie), 404 where
  the path names a row, whatever the route declares itself (409, 413, 502, ...), and a
  ``4XX`` entry for any other client error;
- the two ways to authenticate (``bearerAuth``, ``sessionCookie``) and each keyed
  operation's ``security`` come from FastAPI itself: ``api.deps.require_key`` reads them
  through ``HTTPBearer`` / ``APIKeyCookie``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from api.deps import require_key

ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {
            "type": "string",
            "title": "Detail",
            "description": "Why the request was refused, for a human to read.",
        }
    },
    "description": 'Every error answer: {"detail": "<reason>"}. Some add fields (an '
    "upload refused as a whole also lists the per-file outcome).",
}
DESCRIPTIONS = {
    400: "Bad request (the reason is in `detail`)",
    401: "Missing or invalid API key",
    403: "Forbidden: the key's role may not call this route (or a pool-limited key on a route "
    "naming no pool), a cookie-authenticated write without the CSRF header, "
    "or an invalid/expired signed URL",
    404: "Not found",
    409: "Conflicts with the current state",
    413: "Payload too large",
    422: "Invalid input (the reason is in `detail`)",
    502: "Label Studio could not be reached or refused",
    503: "Unavailable",
}


def _needs_key(dependant: Dependant) -> bool:
    stack = [dependant]
    while stack:
        dep = stack.pop()
        if dep.call is require_key:
            return True
        stack.extend(dep.dependencies)
    return False


def _error_codes(route: APIRoute | None, op: dict[str, Any], path: str) -> set[int]:
    codes = {int(c) for c in op.get("responses", {}) if c.isdigit() and int(c) >= 400}
    if op.get("parameters") or op.get("requestBody"):
        codes.add(422)
    if "{" in path:
        codes.add(404)
    if route is not None and _needs_key(route.dependant):
        codes |= {401, 403}
    return codes


def _document_errors(spec: dict[str, Any], routes: dict[tuple[str, str], APIRoute]) -> None:
    for path, ops in spec.get("paths", {}).items():
        for method, op in ops.items():
            route = routes.get((path, method))
            responses = op.setdefault("responses", {})
            for code in sorted(_error_codes(route, op, path)):
                entry = responses.setdefault(str(code), {})
                if not entry.get("description") or entry["description"] in (
                    "Validation Error",
                    "Additional Response",
                ):
                    entry["description"] = DESCRIPTIONS.get(code, "Error")
                entry["content"] = {"application/json": {"schema": ERROR_REF}}
            responses["4XX"] = {
                "description": "Any other client error",
                "content": {"application/json": {"schema": ERROR_REF}},
            }


def _api_routes(app: FastAPI) -> list[tuple[str, APIRoute]]:
    """``(full path, route)`` of every API route, also inside included routers (FastAPI
    keeps those nested and resolves them through ``iter_route_contexts``)."""
    contexts = getattr(routing, "iter_route_contexts", None)
    if contexts is None:  # older FastAPI: included routes are flattened into app.routes
        return [(r.path_format, r) for r in app.routes if isinstance(r, APIRoute)]
    out = []
    for ctx in contexts(app.routes):
        if isinstance(ctx.original_route, APIRoute) and ctx.path_format:
            out.append((ctx.path_format, ctx.original_route))
    return out


def build(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document (computed once, then cached on the app)."""
    if app.openapi_schema:
        return app.openapi_schema
    spec = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Error"] = ERROR_SCHEMA
    routes = {
        (path, method.lower()): route
        for path, route in _api_routes(app)
        if route.include_in_schema
        for method in route.methods
    }
    _document_errors(spec, routes)
    app.openapi_schema = spec
    return spec


def install(app: FastAPI) -> None:
    app.openapi = lambda: build(app)  # type: ignore[method-assign]
