"""A worker started by `alp up` stops by itself once `alp up` is gone (even without the
kernel's parent-death signal), and does nothing when no parent is named."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil

from tests.support.processes import ROOT, wait_for
from worker.lifeline import watch_parent

CHILD = """
import sys, time
from worker.lifeline import watch_parent
if watch_parent(interval_s=0.05, grace_s=2.0) is None:
    sys.exit(3)
open(sys.argv[1], "w").write("watching")
time.sleep(120)
"""

# The parent starts the child WITHOUT a parent-death signal, waits until it watches, exits.
PARENT = """
import os, subprocess, sys, time
env = {**os.environ, "ALP_PARENT_PID": str(os.getpid())}
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]], env=env,
                         start_new_session=True)
print(child.pid, flush=True)
deadline = time.monotonic() + 60
while not os.path.exists(sys.argv[2]) and time.monotonic() < deadline:
    if child.poll() is not None:
        sys.exit(f"child exited early: {child.returncode}")
    time.sleep(0.05)
"""


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_worker_stops_when_its_parent_is_gone(tmp_path: Path) -> None:
    flag = tmp_path / "watching"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("ALP_PARENT_PID", None)
    out = subprocess.run(
        [sys.executable, "-c", PARENT, CHILD, str(flag)],
        env=env, capture_output=True, text=True, timeout=90, check=True,
    )  # fmt: skip
    pid = int(out.stdout.split()[0])
    assert flag.read_text() == "watching"
    try:
        wait_for(lambda: _gone(pid), timeout=30, interval=0.1, what="the orphaned worker to stop")
    finally:
        if not _gone(pid):
            os.kill(pid, 9)


def test_no_parent_named_means_no_watch(monkeypatch) -> None:
    monkeypatch.delenv("ALP_PARENT_PID", raising=False)
    assert watch_parent() is None
    monkeypatch.setenv("ALP_PARENT_PID", str(os.getppid() + 1))  # not our parent
    assert watch_parent() is None
