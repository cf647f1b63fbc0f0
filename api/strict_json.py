"""Strict JSON request bodies: standard JSON only, and strings the databases can store.

Python's ``json`` (which FastAPI parses bodies with) accepts the non-standard tokens
``NaN``, ``Infinity`` and ``-Infinity`` and turns ``1e400`` into ``inf``. Such values pass
pydantic's ``float`` and ``Any`` fields, then break later: PostgreSQL's ``json`` type refuses
them and the worker trains on them. ``\\u0000`` in a string is valid JSON but PostgreSQL
text cannot hold it (SQLite can: the engines would disagree). :func:`strict_json_body`
refuses all of these with a 422 before any route code runs.
"""

from __future__ import annotations

import json
import math
from email.message import Message
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute

from alp.errors import Unprocessable


class _NonStandardNumber(ValueError):
    pass


def _reject_constant(token: str) -> Any:
    raise _NonStandardNumber(f"{token} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NonStandardNumber(f"{text[:30]} is out of the float range")
    return value


def _has_nul(value: Any) -> bool:
    """Whether any string (key or value) inside ``value`` contains NUL; iterative, so a
    deeply nested body cannot exhaust the stack."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def check_json(body: bytes | str) -> None:
    """Raise :class:`Unprocessable` when ``body`` holds NaN/Infinity, a float beyond the
    double range, or a string with NUL. Bodies that are not JSON at all are left to the
    caller (FastAPI reports those itself)."""
    try:
        data = json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float)
    except _NonStandardNumber as exc:
        raise Unprocessable(f"request body: {exc}; send finite numbers (standard JSON)") from exc
    except (ValueError, RecursionError):
        return
    if _has_nul(data):
        raise Unprocessable("request body: strings must not contain NUL (\\u0000) characters")


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    msg = Message()
    msg["content-type"] = content_type
    sub = msg.get_content_subtype()
    return msg.get_content_maintype() == "application" and (sub == "json" or sub.endswith("+json"))


async def strict_json_body(request: Request) -> None:
    """App-wide dependency: check the JSON body of routes that declare one. FastAPI has
    already read (and cached) such a body when dependencies run, so this costs a re-parse
    of a small document and never reads an upload stream."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.body_field is None:
        return
    if not _is_json(request.headers.get("content-type")):
        return
    body = await request.body()
    if body:
        check_json(body)
