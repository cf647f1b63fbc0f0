"""Real child processes for tests: Celery workers, ``alp up``; polling helpers; finding
processes a test (or the whole session) left behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar

import httpx
import psutil

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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def api_process(
    settings: Settings, log_path: Path, ready: tuple[str, int], **env: str
) -> Iterator[tuple[str, subprocess.Popen]]:
    """``uvicorn api.main:app`` on a free port, logging to ``log_path``; ready once
    ``GET base + ready[0]`` answers status ``ready[1]``. Yields ``(base_url, process)``;
    stops it on exit. Raises if the process exits before it is ready."""
    port = free_port()
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            runtime.api_command("127.0.0.1", port), env=test_env(settings, **env), cwd=ROOT,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"API exited early: {log_path.read_text()[-3000:]}")
            try:
                return httpx.get(base + ready[0], timeout=5).status_code == ready[1]
            except httpx.HTTPError:
                return False

        try:
            wait_for(up, timeout=90, interval=0.1, what="the API server")
            yield base, proc
        finally:
            stop_process(proc)


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


@contextmanager
def embedded_workers(settings: Settings, log_dir: Path, **env_extra: str) -> Iterator[list]:
    """The worker processes of ``alp up`` (``runtime.embedded_worker_commands``), each
    logging to ``log_dir/<queue>.log``; SIGTERM (then SIGKILL) on exit."""
    settings.ensure_dirs()
    procs: list[subprocess.Popen] = []
    try:
        for cmd in runtime.embedded_worker_commands(settings):
            queue = cmd[cmd.index("-Q") + 1]
            with (log_dir / f"{queue}.log").open("ab") as log:
                env = test_env(settings, **env_extra)
                kw = {"stdout": log, "stderr": subprocess.STDOUT, "start_new_session": True}
                procs.append(subprocess.Popen(cmd, env=env, cwd=ROOT, **kw))
        yield procs
    finally:
        for proc in procs:
            stop_process(proc)


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


def stop_tree(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Stop ``proc`` like :func:`stop_process`, then SIGKILL any of its descendants (taken
    before the signal) still alive: children in sessions of their own survive a killpg."""
    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    stop_process(proc, sig, timeout)
    _gone, alive = psutil.wait_procs(family, timeout=5)
    for p in alive:
        with suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(alive, timeout=5)


def mentions(proc: psutil.Process, path: Path) -> bool:
    """Whether ``proc``'s command line or environment names ``path`` (or a path below it)."""
    root = str(path)
    below = root.rstrip(os.sep) + os.sep
    try:
        words = [*proc.cmdline(), *proc.environ().values()]
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return any(w == root or below in w for w in words)


# Helpers the interpreter itself keeps for its lifetime (multiprocessing, torch); not leaks.
_INTERPRETER_HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")


def leftovers(path: Path, since: float, grace: float = 10.0) -> list[psutil.Process]:
    """Live processes started since ``since`` (epoch s) that are children of this process
    or name ``path`` in their command line or environment, once ``grace`` seconds have
    passed for those still shutting down. Zombies and interpreter helpers don't count."""
    me = psutil.Process()
    found = {p.pid: p for p in me.children(recursive=True)}
    for p in psutil.process_iter():
        with suppress(psutil.Error):
            if p.pid != me.pid and p.create_time() >= since - 1 and mentions(p, path):
                found[p.pid] = p

    def leaked(p: psutil.Process) -> bool:
        try:
            cmd = " ".join(p.cmdline())
            return p.status() != psutil.STATUS_ZOMBIE and not any(
                h in cmd for h in _INTERPRETER_HELPERS
            )
        except psutil.Error:
            return False

    candidates = [p for p in found.values() if leaked(p)]
    _gone, alive = psutil.wait_procs(candidates, timeout=grace)
    return [p for p in alive if leaked(p)]


def kill_all(procs: list[psutil.Process]) -> None:
    for p in procs:
        with suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(procs, timeout=5)


def describe(procs: list[psutil.Process]) -> str:
    out = []
    for p in procs:
        with suppress(psutil.Error):
            out.append(f"pid {p.pid}: {' '.join(p.cmdline())[:200]}")
    return "; ".join(out)


def python() -> str:
    return sys.executable
