"""``alp up``: migrates, prints the URL and a one-time admin key, serves the API with a live
worker, and stops both processes cleanly on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.processes import ROOT, stop_process, wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(data_dir: Path, port: int, log: Path, **env: str) -> subprocess.Popen:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ALP_")}
    full_env.update({"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **env})
    return subprocess.Popen(
        [sys.executable, "-m", "alp.cli", "up", "--port", str(port), "--data-dir", str(data_dir)],
        cwd=ROOT, env=full_env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def test_alp_up_serves_and_stops_cleanly(tmp_path: Path) -> None:
    port, log = _free_port(), tmp_path / "up.log"
    proc = _start(tmp_path / "data", port, log)
    try:
        text = wait_for(
            lambda: "admin API key" in log.read_text() and log.read_text(), timeout=60,
            what="the admin key to be printed",
        )  # fmt: skip
        key = re.search(r"(alp_[0-9a-f]{12}_\S+)", text).group(1)
        assert f"http://127.0.0.1:{port}/" in text
        base = f"http://127.0.0.1:{port}"

        def healthy() -> dict | None:
            try:
                body = httpx.get(f"{base}/healthz", params={"wait": 3}, timeout=10).json()
            except httpx.HTTPError:
                return None
            return body if body["worker"]["status"] == "ok" else None

        assert wait_for(healthy, timeout=120, what="API and worker")["database"] == "ok"
        auth = {"Authorization": f"Bearer {key}"}
        assert httpx.get(f"{base}/api/v1/pools", headers=auth).status_code == 200
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 2
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
        _gone, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, f"children left running: {alive}"
    finally:
        stop_process(proc)


def test_second_start_prints_no_new_key_and_bootstrap_key_is_used(tmp_path: Path) -> None:
    boot = "alp_abcdefabcdef_" + "k" * 43
    port, log = _free_port(), tmp_path / "up.log"
    proc = _start(tmp_path / "data", port, log, ALP_BOOTSTRAP_API_KEY=boot)
    try:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                r = httpx.get(f"{base}/api/v1/pools", headers={"Authorization": f"Bearer {boot}"})
            except httpx.HTTPError:
                return False
            return r.status_code == 200

        wait_for(up, timeout=60, what="API with the bootstrap key")
        assert boot in log.read_text()
    finally:
        stop_process(proc)
    log2 = tmp_path / "up2.log"
    proc = _start(tmp_path / "data", port, log2)
    try:
        wait_for(lambda: "dashboard" in log2.read_text(), timeout=60, what="second start")
        assert "admin API key" not in log2.read_text()
    finally:
        stop_process(proc)


@pytest.mark.parametrize("flag", ["--help"])
def test_cli_help_lists_commands(flag: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "alp.cli", flag], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True,
    ).stdout  # fmt: skip
    for cmd in ("up", "migrate", "worker", "keys", "simulate"):
        assert cmd in out
