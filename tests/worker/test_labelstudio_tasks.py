"""Retry policy of the Label Studio tasks: Celery's autoretry with exponential backoff
(1, 2, 4, ... s capped at 30 s, no jitter, 12 retries) on an unreachable server only."""

from __future__ import annotations

from typing import Any

import pytest
from celery.utils.time import get_exponential_backoff_interval

from alp import jobs
from alp.labelstudio.client import LabelStudioError
from worker import labelstudio_tasks as lt
from worker.app import celery_app

PUSH, SYNC, MARK = (celery_app.tasks[n] for n in (jobs.LS_PUSH, jobs.LS_SYNC, jobs.LS_MARK_DELETED))


def _old_backoff(retries: int) -> int:  # the hand-written formula this replaced
    return int(min(2**retries, 30))


@pytest.mark.parametrize("task", [PUSH, SYNC, MARK], ids=["push", "sync", "mark"])
def test_backoff_schedule_is_unchanged(task: Any) -> None:
    assert task.autoretry_for == (lt.LabelStudioUnavailable,)
    assert task.max_retries == 12
    for retries in range(task.max_retries + 1):
        countdown = get_exponential_backoff_interval(
            factor=int(task.retry_backoff),
            retries=retries,
            maximum=task.retry_backoff_max,
            full_jitter=task.retry_jitter,
        )
        assert countdown == _old_backoff(retries)


class _Client:
    calls = 0
    kind = "unreachable"

    def __init__(self, url: str, token: str) -> None:
        type(self).calls += 1
        raise LabelStudioError(self.kind, "cannot reach Label Studio")

    def close(self) -> None:  # pragma: no cover - never constructed
        pass


def test_unreachable_server_is_retried_then_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    _Client.calls, _Client.kind = 0, "unreachable"
    monkeypatch.setattr(lt, "LabelStudioClient", _Client)
    result = MARK.apply(args=["http://ls", "t", 1, [5]])
    assert _Client.calls == 1 + lt.MAX_RETRIES  # first try + every retry (eager)
    assert result.failed()
    assert isinstance(result.result, lt.LabelStudioUnavailable)


def test_other_errors_are_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    _Client.calls, _Client.kind = 0, "rejected"
    monkeypatch.setattr(lt, "LabelStudioClient", _Client)
    result = MARK.apply(args=["http://ls", "t", 1, [5]])
    assert _Client.calls == 1
    assert result.successful()
    assert result.result["error"] == "cannot reach Label Studio"
