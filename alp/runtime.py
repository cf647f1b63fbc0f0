"""Process management for ``alp up`` and ``alp worker``: child processes, clean shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

from alp.config import Settings


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


def api_command(host: str, port: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "api.main:app", "--host", host, "--port", str(port),
        "--log-level", "warning",
    ]  # fmt: skip


def supervise(commands: Sequence[list[str]], env: dict[str, str]) -> int:
    """Run the commands as children; on Ctrl-C/SIGTERM or any child's exit, stop them all."""
    procs = [subprocess.Popen(c, env=env, start_new_session=True) for c in commands]
    stopping = False

    def _stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    old = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopping and all(p.poll() is None for p in procs):
            time.sleep(0.2)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        for s, h in old.items():
            signal.signal(s, h)
    failed = [p.returncode for p in procs if p.returncode not in (0, -signal.SIGTERM)]
    return 0 if stopping or not failed else failed[0]
