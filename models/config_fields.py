"""One check for every configuration dataclass built from JSON-like data (``DetectorConfig``,
``TrainConfig``, ``HeadConfig``): unknown keys and values of the wrong JSON type are refused
with a message naming the key, before the dataclass's own range and combination checks.

Pure Python (dataclasses and pydantic's type adapters, no torch), so the API validates a
pool's ``train_overrides`` with exactly the rules the worker uses to build them.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import typing
from typing import Any

from pydantic import TypeAdapter, ValidationError

__all__ = ["check_fields", "dataclass_from_dict"]


def _type_name(hint: Any) -> str:
    if typing.get_args(hint) or not hasattr(hint, "__name__"):
        return str(hint).replace("typing.", "")
    return str(hint.__name__)


@functools.cache
def _adapter(hint: Any) -> TypeAdapter[Any]:
    return TypeAdapter(hint)


def _matches(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a (resolved) dataclass field annotation: pydantic's strict
    JSON rules (no "5" for an int, no true for a number; lists stand for tuples). Dataclass
    instances (a ``DetectorConfig`` passed from Python) are left to their own checks."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return True
    try:
        _adapter(hint).validate_json(json.dumps(value), strict=True)
    except (ValidationError, TypeError, ValueError):
        return False
    return True


def check_fields(cls: type, data: Any, where: str, nested: dict[str, type] | None = None) -> None:
    """Raise ``ValueError`` unless ``data`` is a mapping whose keys are fields of dataclass
    ``cls`` and whose values fit their types (``nested`` fields, a mapping each, checked
    field by field against their own dataclass, named ``where.key``)."""
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be an object, got {type(data).__name__}")
    nested = nested or {}
    hints = typing.get_type_hints(cls)
    fields = sorted(f.name for f in dataclasses.fields(cls))
    for key, value in data.items():
        if key not in hints or key not in fields:
            raise ValueError(f"{where}: unknown key {key!r}; known keys are {fields}")
        if key in nested and isinstance(value, dict):
            check_fields(nested[key], value, f"{where}.{key}")
        elif key in nested and dataclasses.is_dataclass(value):
            continue
        elif key in nested:
            raise ValueError(f"{where}.{key} must be an object")
        elif not _matches(value, hints[key]):
            raise ValueError(
                f"{where}.{key} expects {_type_name(hints[key])}, got "
                f"{type(value).__name__} {value!r}"
            )


def dataclass_from_dict(cls: type, data: Any, where: str) -> Any:
    """Dataclass ``cls`` built from ``data`` after :func:`check_fields`; lists become tuples
    for tuple-typed fields. The dataclass's own ``__post_init__`` checks still run."""
    check_fields(cls, data, where)
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        if isinstance(value, list) and "tuple" in str(hints[name]):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)
