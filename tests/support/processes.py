"""Real child processes for tests: a Celery worker, ``alp up``; polling helpers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar

from alp import runtime
from alp.config import Settings

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def wait_for(
    check: Callable[[], T], timeout: float = 30.0, interval: float = 0.1, what: str = "condition"
) -> T:
    """Poll ``check`` until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def test_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = runtime.child_env(settings)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update(extra)
    return env


@contextmanager
def celery_worker(
    settings: Settings,
    queues: str = "gpu,io",
    concurrency: int = 1,
    log_path: Path | None = None,
    beat: bool = False,
    **env_extra: str,
) -> Iterator[subprocess.Popen]:
    """Start a real ``celery worker`` process; SIGTERM (then SIGKILL) it on exit."""
    settings.ensure_dirs()
    log = (log_path or settings.data_dir / f"worker-{queues.replace(',', '-')}.log").open("ab")
    proc = subprocess.Popen(
        runtime.worker_command(settings, queues, concurrency, beat),
        env=test_env(settings, **env_extra),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        stop_process(proc)
        log.close()


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=timeout)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def python() -> str:
    return sys.executable
