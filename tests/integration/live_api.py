"""A real ``uvicorn api.main:app`` process for the settings of a test (any engine)."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import httpx
import psutil

from alp import runtime
from alp.config import Settings
from tests.support.processes import ROOT, stop_process, test_env, wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_api(settings: Settings, **env: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start the API on a free port; yield ``(base_url, process)``; stop it on exit."""
    port = free_port()
    log_path = settings.data_dir / "api.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            runtime.api_command("127.0.0.1", port), env=test_env(settings, **env), cwd=ROOT,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"API exited: {log_path.read_text()[-3000:]}")
            try:
                return httpx.get(f"{base}/api/v1/pools", timeout=5).status_code == 401
            except httpx.HTTPError:
                return False

        try:
            wait_for(up, timeout=90, interval=0.1, what="the API server")
            yield base, proc
        finally:
            stop_process(proc)


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
