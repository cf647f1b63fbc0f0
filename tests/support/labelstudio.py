"""A REAL Label Studio server for tests, plus a real alp API (uvicorn) it can call back.

- ``label_studio_executable()`` runs ``scripts/ensure_labelstudio.sh`` (installs Label
  Studio into its own venv when missing; fails loudly otherwise).
- ``template_data_dir(exe)`` creates, once per machine, a migrated data dir with the test
  user and its legacy token (``~/.cache/alp/ls-template-<version>``); every server start
  copies it, which keeps start-up near 3-10 s instead of ~30-60 s.
- ``LabelStudioServer`` starts ``label-studio start`` on a free loopback port with
  legacy tokens enabled and SSRF protection off (webhooks to 127.0.0.1); ``stop()`` and
  ``start()`` again keep the same port and data dir.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from alp import runtime
from alp.config import Settings
from tests.support.processes import ROOT, stop_process, test_env, wait_for

USERNAME = "annotator@alp.test"
PASSWORD = "alp-test-password"
LEGACY_TOKEN = "alptestlegacytoken0123456789abcdef"
START_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def label_studio_executable() -> Path:
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "ensure_labelstudio.sh")],
        capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"could not install Label Studio:\n{proc.stderr[-3000:]}")
    exe = Path(proc.stdout.strip().splitlines()[-1])
    if not exe.is_file():
        raise RuntimeError(f"ensure_labelstudio.sh printed a missing path: {exe}")
    return exe


def label_studio_version(exe: Path) -> str:
    out = subprocess.run(
        [str(exe.parent / "python"), "-c",
         "import importlib.metadata as m; print(m.version('label-studio'))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.strip()


def server_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALP_", "DJANGO_"))}
    env.update(
        {
            "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
            "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
            "SSRF_PROTECTION_ENABLED": "false",
            "LATEST_VERSION_CHECK": "false",
            "COLLECT_ANALYTICS": "false",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    return env


class LabelStudioServer:
    """``label-studio start`` on loopback; ``url``, ``token`` (legacy) and helpers."""

    def __init__(self, exe: Path, data_dir: Path, port: int | None = None) -> None:
        self.exe, self.data_dir = exe, data_dir
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}.log"
        self.token = LEGACY_TOKEN

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        cmd = [str(self.exe), "start", "--no-browser", "--internal-host", "127.0.0.1",
               "--port", str(self.port), "--username", USERNAME, "--password", PASSWORD,
               "--user-token", LEGACY_TOKEN]  # fmt: skip
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            cmd, env=server_env(self.data_dir), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=self.data_dir,
        )  # fmt: skip
        log.close()
        try:
            wait_for(self._healthy, timeout=timeout, interval=0.2, what="Label Studio /health")
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"Label Studio did not start:\n{self.log_tail()}") from None
        actual = re.findall(r"Starting development server at http://[\d.]+:(\d+)/",
                            self.log_path.read_text(errors="replace"))  # fmt: skip
        if actual and int(actual[-1]) != self.port:  # it silently picks another port if busy
            self.stop()
            raise RuntimeError(f"Label Studio started on port {actual[-1]}, not {self.port}")

    def _healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"Label Studio exited ({self.proc.returncode}):\n{self.log_tail()}")
        try:
            return httpx.get(f"{self.url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, sig=signal.SIGTERM, timeout=15)
            self.proc = None

    def log_tail(self, n: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-n:] if self.log_path.exists() else ""

    def http(self) -> httpx.Client:
        """A client authenticated as the test user with the legacy token."""
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Token {self.token}"}, timeout=30
        )

    def create_personal_access_token(self) -> str:
        with self.http() as c:
            resp = c.post("/api/token/")
            resp.raise_for_status()
            return str(resp.json()["token"])


def template_data_dir(exe: Path) -> Path:
    """A migrated data dir with the test user, made once per machine and version."""
    version = label_studio_version(exe)
    cache = Path(os.environ.get("ALP_LS_TEMPLATE_DIR", Path.home() / ".cache" / "alp"))
    target = cache / f"ls-template-{version}"
    if (target / "label_studio.sqlite3").is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / f"ls-template-{version}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "label_studio.sqlite3").is_file():
            return target
        work = Path(tempfile.mkdtemp(prefix="ls-template-", dir=cache))
        data = work / "data"
        data.mkdir()
        server = LabelStudioServer(exe, data)
        server.start(timeout=600)
        server.stop()
        shutil.rmtree(target, ignore_errors=True)
        data.rename(target)
        shutil.rmtree(work, ignore_errors=True)
    return target


def fresh_server(exe: Path, template: Path, parent: Path) -> LabelStudioServer:
    data = parent / f"ls-{time.monotonic_ns()}"
    shutil.copytree(template, data)
    server = LabelStudioServer(exe, data)
    server.start()
    return server


@contextmanager
def alp_api(settings: Settings, port: int) -> Iterator[subprocess.Popen]:
    """A real uvicorn process serving alp for ``settings`` (Label Studio calls it back)."""
    log = (settings.data_dir / "api.log").open("ab")
    proc = subprocess.Popen(
        runtime.api_command("127.0.0.1", port), env=test_env(settings), cwd=ROOT,
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/api/v1/pools"  # 401 without a key: cheap and fast

        def up() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"alp API exited: {(settings.data_dir / 'api.log').read_text()}")
            try:
                httpx.get(url, timeout=5)  # any HTTP answer means it is serving
                return True
            except httpx.HTTPError:
                return False

        wait_for(up, timeout=60, interval=0.1, what="alp API")
        yield proc
    finally:
        stop_process(proc)
        log.close()
