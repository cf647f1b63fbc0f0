"""The mechanism behind strategy parameters: pydantic models, validated with clear messages.

Each strategy declares its parameters once, as a :class:`StrategyParams` subclass in
:mod:`acquisition.param_specs` (default, type, bounds and help text per field). The worker
(``Strategy(**params)``) and the API (pool settings, backtests) both validate with
:func:`validate_params`, so they accept and refuse exactly the same values.

Pure Python (pydantic only, no torch), so the API can import it: ``acquisition/__init__``
loads its torch-based names lazily.

Values follow JSON: an int is accepted for a float (and an integral float for an int), a
tuple for a list; nothing else is converted (no "5" for a number, no true for a number).
Every parameter also obeys the generic limits below, whatever its own bounds.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

__all__ = [
    "MAX_PARAM_ITEMS",
    "MAX_PARAM_NUMBER",
    "MAX_PARAM_TEXT",
    "Int",
    "List",
    "StrategyParams",
    "nullable_int",
    "param",
    "validate_params",
]

MAX_PARAM_NUMBER = 1_000_000  # |number| for any parameter
MAX_PARAM_ITEMS = 100  # list entries
MAX_PARAM_TEXT = 200  # string characters


def _integral(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _listed(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


Int = Annotated[int, BeforeValidator(_integral)]
"""An int parameter that also takes an integral float (``2.0``)."""
_T = typing.TypeVar("_T")
List = Annotated[list[_T], BeforeValidator(_listed)]
"""A list parameter that also takes a tuple."""


def param(default: Any, help: str, **constraints: Any) -> Any:
    """A field: its ``default`` (pydantic copies a list or dict default for each use), a
    ``help`` text in words (it reaches the API's schema) and pydantic constraints (``ge``,
    ``gt``, ``le``, ``lt``)."""
    return Field(default, description=help, **constraints)


def nullable_int(**constraints: Any) -> Any:
    """An :data:`Int` with its bounds, or None (bounds set here, not on the field, so the
    schema shows them on the number)."""
    return Annotated[int, Field(**constraints), BeforeValidator(_integral)] | None


class StrategyParams(BaseModel):
    """Base of every strategy's parameter model (strict JSON types, no extra keys)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


def validate_params(
    strategy: str, model: type[StrategyParams], params: Mapping[str, Any] | None
) -> dict[str, Any]:
    """``params`` merged over the defaults of ``model``, validated; ``ValueError`` naming the
    strategy, the parameter and the reason for an unknown name or a bad value."""
    params = dict(params or {})
    fields = model.model_fields
    unknown = sorted(set(params) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields)) or "(none)"
        raise ValueError(
            f"strategy {strategy!r} has no parameter {unknown[0]!r}; known parameters: {known}"
        )
    for name, value in params.items():
        reason = _over_limit(value)
        if reason:
            raise ValueError(f"strategy {strategy!r}: parameter {name!r} {reason}")
    try:
        return model.model_validate(params).model_dump()
    except ValidationError as exc:
        raise ValueError(f"strategy {strategy!r}: {_message(model, exc.errors()[0])}") from None


def _over_limit(value: Any) -> str | None:
    """Why a given value breaks the generic limits (checked first, so an oversized list or
    text is refused before its entries are looked at), or None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if math.isfinite(value) and abs(value) > MAX_PARAM_NUMBER:
            return f"must lie between -{MAX_PARAM_NUMBER} and {MAX_PARAM_NUMBER}, got {value}"
    elif isinstance(value, list | tuple) and len(value) > MAX_PARAM_ITEMS:
        return f"takes at most {MAX_PARAM_ITEMS} entries"
    elif isinstance(value, str) and len(value) > MAX_PARAM_TEXT:
        return f"takes at most {MAX_PARAM_TEXT} characters"
    return None


_RANGE = {
    "greater_than_equal": (">=", "ge"),
    "greater_than": (">", "gt"),
    "less_than_equal": ("<=", "le"),
    "less_than": ("<", "lt"),
}


def _message(model: type[StrategyParams], err: Mapping[str, Any]) -> str:
    """Our wording for pydantic's first error (the parameter comes first, then why)."""
    name = str(err["loc"][0])
    where = f"parameter {name!r}"
    value, kind, ctx = err.get("input"), err["type"], err.get("ctx") or {}
    hint = model.model_fields[name].annotation
    if len(err["loc"]) == 1:
        if value is None:
            return f"{where} must not be null"
        expected = _kind(hint)
        if not _fits(value, expected):
            return f"{where} expects {expected}, got {type(value).__name__} {value!r}"
    if kind in _RANGE:
        op, key = _RANGE[kind]
        return f"{where} must be {op} {ctx[key]}, got {value}"
    if kind == "finite_number":
        return f"{where} must be finite, got {value}"
    if kind == "literal_error":
        allowed = ", ".join(map(str, _choices(hint)))
        return f"{where} got {value!r}; allowed: {allowed}"
    if kind == "value_error":
        return f"{where}: {ctx.get('error', err['msg'])}"
    return f"{where}: {err['msg']}"  # pragma: no cover - a constraint without wording yet


def _fits(value: Any, kind: str) -> bool:
    types: dict[str, tuple[type, ...]] = {
        "int": (int, float),  # an integral float passes; others fail with "expects int"
        "float": (int, float),
        "str": (str,),
        "bool": (bool,),
        "list": (list, tuple),
        "dict": (dict,),
    }
    if isinstance(value, bool) and kind != "bool":
        return False
    if kind == "int" and isinstance(value, float):
        return math.isfinite(value) and value.is_integer()
    return isinstance(value, types.get(kind, (object,)))


def _strip(hint: Any) -> Any:
    """``hint`` without ``Annotated`` and ``None``."""
    while typing.get_origin(hint) is Annotated:
        hint = typing.get_args(hint)[0]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if type(None) in typing.get_args(hint) and len(args) == 1:
        return _strip(args[0])
    return hint


def _kind(hint: Any) -> str:
    """The JSON-ish kind of a field: int, float, str, bool, list or dict."""
    hint = _strip(hint)
    origin = typing.get_origin(hint)
    if origin is Literal:
        return type(typing.get_args(hint)[0]).__name__
    if origin in (list, tuple):
        return "list"
    if origin is dict:
        return "dict"
    return getattr(hint, "__name__", str(hint))


def _choices(hint: Any) -> tuple[Any, ...]:
    """The allowed values of a ``Literal`` field (or of a list of literals)."""
    hint = _strip(hint)
    if typing.get_origin(hint) is Literal:
        return typing.get_args(hint)
    if typing.get_origin(hint) is list:
        return _choices(typing.get_args(hint)[0])
    return ()
