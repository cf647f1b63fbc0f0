"""``alp up``: migrates, prints the URL and a one-time admin key on unwrapped lines, serves
the API with a gpu and an io worker, and stops every child process whenever it is stopped
(at once, during start-up, once ready; even when killed); configuration errors are one
line and exit status 78."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import psutil
import pytest

from alp.config import CONFIG_ERROR_EXIT
from tests.support.processes import ROOT, free_port, mentions, stop_tree, wait_for

KEY_LINE = re.compile(r"admin API key \(shown once\): (alp_[0-9a-f]{12}_[A-Za-z0-9_-]{43})")


def _env(**env: str) -> dict[str, str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ALP_")}
    full_env.update({"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **env})
    return full_env


def _start(data_dir: Path, port: int, log: Path, *args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "alp.cli", "up", "--port", str(port), "--data-dir",
         str(data_dir), *args],
        cwd=ROOT, env=_env(**env), stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def _survivors(data_dir: Path) -> list[psutil.Process]:
    """Processes that belong to this ``alp up`` (children get ALP_DATA_DIR=data_dir)."""
    return [p for p in psutil.process_iter() if mentions(p, data_dir)]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _assert_all_gone(data_dir: Path, port: int) -> None:
    wait_for(lambda: not _survivors(data_dir), timeout=30, what="every child to stop")
    assert _port_free(port), f"port {port} is still held"


def _healthy(base: str) -> dict | None:
    try:
        body = httpx.get(f"{base}/healthz", params={"wait": 3}, timeout=10).json()
    except httpx.HTTPError:
        return None
    return body if body["worker"]["status"] == "ok" else None


def test_alp_up_serves_and_stops_cleanly(tmp_path: Path) -> None:
    port, log, data = free_port(), tmp_path / "up.log", tmp_path / "data"
    proc = _start(data, port, log)
    try:
        text = wait_for(
            lambda: "admin API key" in log.read_text() and log.read_text(), timeout=60,
            what="the admin key to be printed",
        )  # fmt: skip
        key = KEY_LINE.search(text).group(1)
        assert f"http://127.0.0.1:{port}/" in text
        base = f"http://127.0.0.1:{port}"
        assert wait_for(lambda: _healthy(base), timeout=120, what="API and worker")["database"]
        auth = {"Authorization": f"Bearer {key}"}
        assert httpx.get(f"{base}/api/v1/pools", headers=auth).status_code == 200
        children = psutil.Process(proc.pid).children()
        cmds = [" ".join(c.cmdline()) for c in children]
        assert sum("uvicorn api.main:app" in c for c in cmds) == 1, cmds
        assert sum(" -Q gpu -c 1 " in c for c in cmds) == 1, cmds
        assert sum(" -Q io " in c and " -B " in c for c in cmds) == 1, cmds
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
        _assert_all_gone(data, port)
    finally:
        stop_tree(proc)


def test_second_start_prints_no_new_key_and_bootstrap_key_is_used(tmp_path: Path) -> None:
    boot = "alp_abcdefabcdef_" + "k" * 43
    port, log = free_port(), tmp_path / "up.log"
    proc = _start(tmp_path / "data", port, log, "--no-worker", ALP_BOOTSTRAP_API_KEY=boot)
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
        stop_tree(proc)
    log2 = tmp_path / "up2.log"
    proc = _start(tmp_path / "data", port, log2, "--no-worker")
    try:
        wait_for(lambda: "dashboard" in log2.read_text(), timeout=60, what="second start")
        assert "admin API key" not in log2.read_text()
    finally:
        stop_tree(proc)
    _assert_all_gone(tmp_path / "data", port)


def test_admin_key_is_one_unwrapped_line_when_piped(tmp_path: Path) -> None:
    """Narrow COLUMNS, stdout and stderr piped: the key and URL lines stay whole."""
    port, data = free_port(), tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-m", "alp.cli", "up", "--port", str(port), "--data-dir", str(data),
         "--no-worker"],
        cwd=ROOT, env=_env(COLUMNS="40"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_for(lambda: any("admin API key" in ln for ln in lines), timeout=60, what="key")
        key_lines = [ln.rstrip("\n") for ln in lines if KEY_LINE.fullmatch(ln.rstrip("\n"))]
        assert len(key_lines) == 1, lines
        start = [ln.rstrip("\n") for ln in lines if ln.startswith("alp is starting")]
        assert len(start) == 1 and start[0].endswith(f"docs http://127.0.0.1:{port}/docs"), lines
        auth = {"Authorization": f"Bearer {KEY_LINE.fullmatch(key_lines[0]).group(1)}"}

        def accepted() -> bool:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/v1/pools", headers=auth)
            except httpx.HTTPError:
                return False
            return r.status_code == 200

        wait_for(accepted, timeout=60, what="the printed key to be accepted")
    finally:
        stop_tree(proc)
        reader.join(timeout=10)
        proc.stdout.close()
    _assert_all_gone(data, port)


MOMENTS = [
    ("immediately", signal.SIGTERM),
    ("migrating", signal.SIGINT),
    ("spawning", signal.SIGTERM),
    ("ready", signal.SIGINT),
    ("spawned-then-killed", signal.SIGKILL),
]


@pytest.mark.parametrize(("moment", "sig"), MOMENTS, ids=[m for m, _ in MOMENTS])
def test_stopping_at_any_moment_leaves_no_child(tmp_path: Path, moment: str, sig: int) -> None:
    port, log, data = free_port(), tmp_path / "up.log", tmp_path / "data"
    proc = _start(data, port, log)
    try:
        if moment == "migrating":
            wait_for((data / "alp.db").exists, timeout=60, interval=0.01, what="migration")
        elif moment in ("spawning", "spawned-then-killed"):
            want = 1 if moment == "spawning" else 3

            def children() -> bool:
                return len(psutil.Process(proc.pid).children()) >= want

            wait_for(children, timeout=60, interval=0.01, what=f"{want} child(ren)")
        elif moment == "ready":
            wait_for(lambda: _healthy(f"http://127.0.0.1:{port}"), timeout=120, what="ready")
        proc.send_signal(sig)
        code = proc.wait(timeout=40)
        if moment in ("migrating", "ready"):
            assert code == 0, log.read_text()
            assert "Traceback" not in log.read_text()
        _assert_all_gone(data, port)
    finally:
        stop_tree(proc)


def test_bad_bootstrap_key_is_one_line_and_exit_78(tmp_path: Path) -> None:
    secret = "alp_notavalidkey_" + "s" * 10
    r = subprocess.run(
        [sys.executable, "-m", "alp.cli", "up", "--port", str(free_port()), "--data-dir",
         str(tmp_path / "data")],
        cwd=ROOT, env=_env(ALP_BOOTSTRAP_API_KEY=secret), capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert r.returncode == CONFIG_ERROR_EXIT == 78
    out = (r.stdout + r.stderr).strip().splitlines()
    assert len(out) == 1, out
    assert out[0].startswith("alp: configuration error: ALP_BOOTSTRAP_API_KEY: expected alp_<")
    assert "exit status 78" in out[0] and secret not in out[0]


@pytest.mark.parametrize("flag", ["--help"])
def test_cli_help_lists_commands(flag: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "alp.cli", flag], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True,
    ).stdout  # fmt: skip
    for cmd in ("up", "migrate", "worker", "keys", "simulate"):
        assert cmd in out
