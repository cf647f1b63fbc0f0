"""Regenerate the README's dashboard screenshot from a real run.

Starts ``alp up --demo`` in a fresh temporary data directory (API, one worker, and the
demo's synthetic pool with its simulated annotator and tiny detector), waits until the
demo pool's first ``--cycles`` cycles are trained, evaluated and have selected their
images, then opens the pool page in headless Chromium (Playwright), signed in with a key
made for the run, and saves it as ``docs/img/dashboard-pool.png``. Everything it started
is stopped before it exits. The picture ends after the gallery's first row. Nothing is
staged: the numbers, boxes and components are what the pipeline produced.

    .venv/bin/python scripts/screenshots.py                 # about 6 minutes on a busy 2-core CPU
    .venv/bin/python scripts/screenshots.py --cycles 3 --out /tmp/shots

Prints one JSON line: the files written, the cycles shown and the seconds it took.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psutil  # noqa: E402

CHROMIUM = os.environ.get("ALP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
SELECTED = ("labeling", "done")  # a cycle in these states has trained, evaluated, selected


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 1.0) -> Any:
    """Poll ``check`` until it returns something truthy; raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def stop_tree(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM ``alp up`` (it stops its children), then make sure none of them is left."""
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    _gone, alive = psutil.wait_procs(children, timeout=timeout)
    for child in alive:
        child.kill()
    psutil.wait_procs(alive, timeout=5)


def make_key(data_dir: Path) -> str:
    """A fresh API key in the run's database (``alp up`` has migrated it)."""
    from alp.config import Settings
    from alp.db import make_engine, make_sessionmaker
    from alp.services import keys

    engine = make_engine(Settings(data_dir=data_dir).database_url)
    try:
        with make_sessionmaker(engine)() as db:
            key = keys.create_key(db, "screenshots").key
            db.commit()
    finally:
        engine.dispose()
    return key


def demo_status(base: str, key: str, cycles: int) -> dict[str, Any] | None:
    """The demo pool's status once its first ``cycles`` cycles have selected, else None."""
    h = {"Authorization": f"Bearer {key}"}
    pools = httpx.get(f"{base}/api/v1/dashboard/pools", headers=h, timeout=10).json()
    demo = next((p for p in pools if p["name"] == "demo"), None)
    if demo is None:
        return None
    st = httpx.get(f"{base}/api/v1/dashboard/pools/{demo['id']}/status", headers=h, timeout=10)
    body = st.json()
    failed = [c for c in body["cycles"] if c["state"] == "failed"]
    if failed:
        raise RuntimeError(f"demo cycle #{failed[0]['index']} failed: {failed[0]['error']}")
    done = [c for c in body["cycles"] if c["index"] < cycles and c["state"] in SELECTED]
    ok = len(done) == cycles and len(body["curve"]) >= cycles
    return body if ok else None


def screenshot(base: str, key: str, pool_id: int, out: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(base_url=base, viewport={"width": 1280, "height": 900})
            page.goto(f"/login?next=/pools/{pool_id}")
            page.get_by_label("API key").fill(key)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("img", name="Learning curve")).to_be_visible()
            page.wait_for_function(
                "() => [...document.querySelectorAll('.gallery img')]"
                ".every(i => i.complete && i.naturalWidth > 0)",
                timeout=30_000,
            )
            # the whole page down to the gallery's first row (the rest is more of the same)
            bottom = page.evaluate(
                """() => {
                  const shots = [...document.querySelectorAll('.gallery .shot')];
                  const top = shots.length ? shots[0].getBoundingClientRect().top : 0;
                  const row = shots.filter(s => s.getBoundingClientRect().top === top);
                  const end = Math.max(...row.map(s => s.getBoundingClientRect().bottom));
                  return shots.length ? end + window.scrollY + 16 : document.body.scrollHeight;
                }"""
            )
            width = page.viewport_size["width"] if page.viewport_size else 1280
            clip = {"x": 0, "y": 0, "width": width, "height": bottom}
            page.screenshot(path=str(out), full_page=True, clip=clip)
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=2, help="cycles to wait for")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds for the run")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="alp-shots-") as tmp:
        data_dir, port = Path(tmp) / "data", free_port()
        base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALP_")}
        env.update(ALP_DATA_DIR=str(data_dir), ALP_PUBLIC_BASE_URL=base, PYTHONPATH=str(ROOT))
        log = (Path(tmp) / "alp-up.log").open("wb")
        cmd = [sys.executable, "-m", "alp.cli", "up", "--demo", "--port", str(port)]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:

            def api_up() -> bool:
                if proc.poll() is not None:
                    tail = (Path(tmp) / "alp-up.log").read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"alp up exited early:\n{tail}")
                try:
                    return httpx.get(f"{base}/login", timeout=5).status_code == 200
                except httpx.HTTPError:
                    return False

            wait_for(api_up, 120, "the API")
            key = make_key(data_dir)
            status = wait_for(
                lambda: api_up() and demo_status(base, key, args.cycles),
                args.timeout,
                f"{args.cycles} demo cycles",
                interval=3,
            )
            path = args.out / "dashboard-pool.png"
            screenshot(base, key, status["pool_id"], path)
        finally:
            stop_tree(proc)
            log.close()
    curve = [(p["cycle_index"], p["train_images"], p["map50"]) for p in status["curve"]]
    print(json.dumps({"files": [str(path.relative_to(ROOT)) if path.is_relative_to(ROOT)
                                else str(path)],
                      "curve": curve, "seconds": round(time.monotonic() - t0, 1)}))  # fmt: skip


if __name__ == "__main__":
    main()
