"""Declarative strategy parameters with validation (unknown name or bad value -> ValueError)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Param:
    """One parameter: its default, type and allowed values.

    ``kind`` is one of ``int``, ``float``, ``str``, ``bool``, ``list``, ``dict``; ``choices``
    restricts str values (or list items for lists); ``low``/``high`` bound numbers
    (inclusive unless ``low_open``/``high_open``); ``nullable`` admits None; ``check`` is an
    extra validator returning an error text or None.
    """

    default: Any
    kind: type
    help: str = ""
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    nullable: bool = False
    check: Callable[[Any], str | None] | None = None

    def coerce(self, name: str, value: Any) -> Any:
        """Return the validated value or raise ``ValueError`` naming ``name``."""
        if value is None:
            if self.nullable:
                return None
            raise ValueError(f"parameter {name!r} must not be null")
        value = self._coerce_type(name, value)
        if self.kind in (int, float):
            self._check_range(name, value)
        if self.choices is not None:
            items = value if self.kind is list else [value]
            bad = [v for v in items if v not in self.choices]
            if bad:
                allowed = ", ".join(map(str, self.choices))
                raise ValueError(f"parameter {name!r} got {bad[0]!r}; allowed: {allowed}")
        if self.check is not None:
            err = self.check(value)
            if err:
                raise ValueError(f"parameter {name!r}: {err}")
        return value

    def _coerce_type(self, name: str, value: Any) -> Any:
        kind = self.kind
        if kind is bool:
            if isinstance(value, bool):
                return value
        elif kind is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
        elif kind is float:
            if isinstance(value, int | float) and not isinstance(value, bool):
                if not math.isfinite(value):
                    raise ValueError(f"parameter {name!r} must be finite, got {value}")
                return float(value)
        elif kind is str:
            if isinstance(value, str):
                return value
        elif kind is list:
            if isinstance(value, list | tuple):
                return list(value)
        elif kind is dict and isinstance(value, Mapping):
            return dict(value)
        raise ValueError(
            f"parameter {name!r} expects {kind.__name__}, got {type(value).__name__} {value!r}"
        )

    def _check_range(self, name: str, value: float) -> None:
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            op = ">" if self.low_open else ">="
            raise ValueError(f"parameter {name!r} must be {op} {self.low}, got {value}")
        if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
            op = "<" if self.high_open else "<="
            raise ValueError(f"parameter {name!r} must be {op} {self.high}, got {value}")


def validate_params(
    strategy: str, spec: Mapping[str, Param], params: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Merge ``params`` over the defaults of ``spec``; reject unknown names and bad values."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(spec))
    if unknown:
        known = ", ".join(sorted(spec)) or "(none)"
        raise ValueError(
            f"strategy {strategy!r} has no parameter {unknown[0]!r}; known parameters: {known}"
        )
    out: dict[str, Any] = {}
    for name, p in spec.items():
        value = params[name] if name in params else copy.deepcopy(p.default)
        try:
            out[name] = p.coerce(name, value)
        except ValueError as exc:
            raise ValueError(f"strategy {strategy!r}: {exc}") from None
    return out
