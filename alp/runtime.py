"""Process management for ``alp up`` and ``alp worker``: child processes, clean shutdown.

Embedded layout (``alp up``): the parent process supervises

- the API server (``uvicorn api.main:app``),
- a ``gpu`` worker (concurrency 1: training, evaluation, scoring),
- an ``io`` worker (Label Studio push/sync/reconcile, imports, cycle start, selection,
  watchdog) with the beat scheduler, so io work never waits behind a training run,
- with ``--demo``, the simulated annotator.

Stopping contract: once a :class:`Supervisor` is entered, SIGINT, SIGTERM and SIGHUP stop
the parent cleanly at any moment. Before the first child is started they abort start-up
(:class:`Stopped`); afterwards they only set a flag, so a signal arriving while a child is
being spawned cannot lose track of it, and every started child is stopped (SIGTERM, then
SIGKILL of its process group after ``grace_s``). A second signal skips the grace period.
On Linux every child also gets SIGTERM from the kernel if the parent dies without cleaning
up (SIGKILL), so no child outlives ``alp up``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from types import FrameType, TracebackType

from alp.config import Settings

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PR_SET_PDEATHSIG = 1
PARENT_ENV = "ALP_PARENT_PID"  # set for children of `alp up` (worker.lifeline watches it)


def child_env(settings: Settings) -> dict[str, str]:
    """Environment that makes children resolve exactly these settings."""
    env = dict(os.environ)
    env.update(
        {
            "ALP_DATA_DIR": str(settings.data_dir),
            "ALP_DATABASE_URL": settings.database_url,
            "ALP_BROKER_URL": settings.broker_url,
            "ALP_STORAGE_DIR": str(settings.storage_dir),
            "ALP_SECRET_KEY": settings.resolved_secret_key(),
            "ALP_PUBLIC_BASE_URL": settings.public_base_url,
        }
    )
    if settings.storage_url:
        env["ALP_STORAGE_URL"] = settings.storage_url
    return env


def worker_command(
    settings: Settings, queues: str = "gpu,io", concurrency: int = 1, beat: bool = False
) -> list[str]:
    cmd = [
        sys.executable, "-m", "celery", "-A", "worker.app", "worker",
        "-Q", queues, "-c", str(concurrency), "--prefetch-multiplier", "1",
        "-l", "INFO", "-n", f"alp-{os.getpid()}-{queues.replace(',', '-')}@%h",
    ]  # fmt: skip
    if beat:
        cmd += ["-B", "-s", str(settings.data_dir / "celerybeat-schedule")]
    return cmd


def embedded_worker_commands(settings: Settings, io_concurrency: int = 2) -> list[list[str]]:
    """The workers of ``alp up``: one ``gpu`` process, one ``io`` process (with beat).

    Two processes, so a Label Studio sync or an import runs while a cycle trains; the io
    worker runs ``io_concurrency`` tasks at once so a long import does not hold up a sync.
    Each process consumes only its own queue, so on the SQLite broker no two consumers
    compete for a message.
    """
    return [
        worker_command(settings, "gpu", 1),
        worker_command(settings, "io", io_concurrency, beat=True),
    ]


def api_command(host: str, port: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "api.main:app", "--host", host, "--port", str(port),
        "--log-level", "warning",
    ]  # fmt: skip


class Stopped(BaseException):
    """Raised by the signal handler while no child has been started yet."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _die_with_parent(parent_pid: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` asking the kernel to SIGTERM the child when its parent dies."""
    if not sys.platform.startswith("linux"):
        return None

    def preexec() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


class Supervisor:
    """Owns child processes: start them, wait, and always stop every one of them."""

    def __init__(self, grace_s: float = 10.0) -> None:
        self.grace_s = grace_s
        self.procs: list[subprocess.Popen] = []
        self._finished: set[int] = set()  # pids whose group was already killed and reaped
        self.signals = 0
        self._spawning = False
        self._old: dict[int, object] = {}

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.signals += 1
        if not self._spawning:
            raise Stopped(signum)

    def __enter__(self) -> Supervisor:
        self._old = {s: signal.signal(s, self._on_signal) for s in STOP_SIGNALS}
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType
    ) -> None:
        self._spawning = True  # from here on signals only hurry the shutdown along
        try:
            self.stop_all()
        finally:
            for s, h in self._old.items():
                signal.signal(s, h)  # type: ignore[arg-type]

    def start(self, commands: Sequence[list[str]], env: dict[str, str]) -> None:
        """Start the children; a stop signal received meanwhile starts no further one.

        Each child leads its own session (its process group is killed as a whole) and is
        stopped by the kernel if this process dies first.
        """
        self._spawning = True
        preexec = _die_with_parent(os.getpid())
        env = {**env, PARENT_ENV: str(os.getpid())}  # workers also watch for it themselves
        for cmd in commands:
            if self.signals:
                return
            proc = subprocess.Popen(cmd, env=env, start_new_session=True, preexec_fn=preexec)
            self.procs.append(proc)

    def wait(self) -> int:
        """Block until a stop signal or any child's exit; stop all; the exit status.

        0 when stopped by a signal or when every child exited cleanly, else the first
        failing child's status.
        """
        while not self.signals and all(p.poll() is None for p in self.procs):
            time.sleep(0.2)
        self.stop_all()
        if self.signals:
            return 0
        failed = [p.returncode for p in self.procs if p.returncode not in (0, -signal.SIGTERM)]
        return failed[0] if failed else 0

    def stop_all(self) -> None:
        """SIGTERM every live child, SIGKILL its process group after the grace period."""
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        signals_at_start = self.signals
        deadline = time.monotonic() + self.grace_s
        for p in self.procs:
            if p.pid in self._finished:
                continue  # never signal a reaped pid twice: it may belong to someone else now
            while p.poll() is None:
                if time.monotonic() > deadline or self.signals > signals_at_start:
                    break
                time.sleep(0.05)
            # SIGKILL what is left of the child's process group (e.g. prefork pool children)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            self._finished.add(p.pid)


def supervise(commands: Sequence[list[str]], env: dict[str, str]) -> int:
    """Run the commands as children until a stop signal or a child's exit; stop them all."""
    try:
        with Supervisor() as sup:
            sup.start(commands, env)
            return sup.wait()
    except Stopped:
        return 0
