"""``alp.runtime.Supervisor`` with small real child processes: every child is stopped
whatever ends the supervision (a signal before or after the start, a child's exit, a child
ignoring SIGTERM); the embedded layout has a gpu and an io worker."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from alp import runtime
from alp.config import Settings
from tests.support.processes import wait_for

SLEEPER = [sys.executable, "-c", "import time; time.sleep(300)"]
STUBBORN = (  # ignores SIGTERM, then touches argv[1]
    "import pathlib, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "pathlib.Path(sys.argv[1]).touch(); time.sleep(300)"
)


def _all_gone(procs: list) -> bool:
    return all(p.poll() is not None for p in procs)


def test_child_exit_stops_the_others_and_reports_its_status() -> None:
    with runtime.Supervisor() as sup:
        sup.start([SLEEPER, [sys.executable, "-c", "raise SystemExit(3)"]], dict(os.environ))
        assert sup.wait() == 3
    assert _all_gone(sup.procs)


def test_signal_before_start_aborts_and_starts_nothing() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(runtime.Stopped), runtime.Supervisor() as sup:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises Stopped long before this ends
    assert sup.procs == []
    assert signal.getsignal(signal.SIGTERM) == before  # handlers restored


def test_signal_after_start_stops_every_child_with_status_0() -> None:
    with runtime.Supervisor() as sup:
        sup.start([SLEEPER, SLEEPER], dict(os.environ))
        os.kill(os.getpid(), signal.SIGINT)  # only sets a flag now: no KeyboardInterrupt
        assert sup.wait() == 0
    assert _all_gone(sup.procs) and len(sup.procs) == 2


def test_child_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    with runtime.Supervisor(grace_s=1.0) as sup:
        sup.start([[sys.executable, "-c", STUBBORN, str(ready)]], dict(os.environ))
        wait_for(ready.exists, timeout=30, what="the child to ignore SIGTERM")
        stopping = time.monotonic()
    assert _all_gone(sup.procs) and sup.procs[0].returncode == -signal.SIGKILL
    assert 1.0 <= time.monotonic() - stopping < 15


def test_embedded_layout_is_a_gpu_and_an_io_worker(tmp_path: Path) -> None:
    cmds = runtime.embedded_worker_commands(Settings(data_dir=tmp_path))
    queues = [c[c.index("-Q") + 1] for c in cmds]
    assert queues == ["gpu", "io"]
    assert cmds[0][cmds[0].index("-c") + 1] == "1"
    assert "-B" not in cmds[0] and "-B" in cmds[1]  # one beat, on the io worker
