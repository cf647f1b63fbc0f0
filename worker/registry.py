"""Task declarations, bound to the Celery app handed in at worker start.

Task modules (``worker.tasks``, ``worker.cleanup_tasks``, ``worker.labelstudio_tasks``)
decorate their functions with :func:`task`, which only records the Celery options; the
worker's app (:mod:`worker.app`) imports them and calls :func:`bind_all` with itself. So a
task module never imports the app, and the app module is the only one that knows both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Celery

_DECLARED: list[tuple[Callable[..., Any], dict[str, Any]]] = []


def task(**options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare the decorated function a task with Celery ``options`` (``name`` required);
    the function itself is returned unchanged."""
    if "name" not in options:
        raise TypeError("a worker task needs an explicit name (alp.jobs)")

    def declare(fn: Callable[..., Any]) -> Callable[..., Any]:
        _DECLARED.append((fn, options))
        return fn

    return declare


def bind_all(app: Celery) -> list[str]:
    """Register every declared task on ``app`` (idempotent); returns their names."""
    for fn, options in _DECLARED:
        app.task(**options)(fn)
    return [options["name"] for _fn, options in _DECLARED]
