"""Stop a worker whose ``alp up`` is gone, even when the kernel's parent-death signal was lost.

``alp up`` asks the kernel to SIGTERM its children when it dies (``PR_SET_PDEATHSIG``), but
a Celery worker that gets that one signal while it is still booting can miss it and live on
as an orphan. :func:`watch_parent` starts a daemon thread in the worker's main process that
polls the parent pid named by ``ALP_PARENT_PID``; once the parent is gone it sends the
process SIGTERM (Celery's warm shutdown), and after ``grace_s`` kills the worker's whole
process group (its pool children included). Without ``ALP_PARENT_PID`` (``alp worker``,
compose, tests) it does nothing.
"""

from __future__ import annotations

import os
import signal
import threading
import time

from alp.runtime import PARENT_ENV


def _watch(parent: int, interval_s: float, grace_s: float) -> None:
    while os.getppid() == parent:
        time.sleep(interval_s)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(grace_s)
    try:
        os.killpg(os.getpgid(0), signal.SIGKILL)
    except OSError:
        os._exit(1)


def watch_parent(interval_s: float = 1.0, grace_s: float = 15.0) -> threading.Thread | None:
    """Start the watch thread when ``ALP_PARENT_PID`` names this process's parent."""
    value = os.environ.get(PARENT_ENV, "")
    if not value.isdigit() or int(value) != os.getppid():
        return None
    thread = threading.Thread(
        target=_watch, args=(int(value), interval_s, grace_s), name="alp-lifeline", daemon=True
    )
    thread.start()
    return thread
