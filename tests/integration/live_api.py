"""A real ``uvicorn api.main:app`` process for the settings of a test (any engine)."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import psutil

from alp.config import Settings
from tests.support.processes import api_process


@contextmanager
def live_api(settings: Settings, **env: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start the API on a free port; yield ``(base_url, process)``; stop it on exit."""
    with api_process(settings, settings.data_dir / "api.log", ("/api/v1/pools", 401), **env) as up:
        yield up


def rss_bytes(pid: int) -> int:
    """Resident memory of process ``pid`` plus all its children."""
    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        with suppress(psutil.NoSuchProcess):
            total += child.memory_info().rss
    return total


class PeakRss:
    """Context manager sampling ``rss_bytes(pid)`` every ``interval`` s on a thread;
    ``peak`` is the largest value seen (including at entry and exit)."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid, self.interval = pid, interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with suppress(psutil.NoSuchProcess):
                self.peak = max(self.peak, rss_bytes(self.pid))
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self.peak = rss_bytes(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes(self.pid))
