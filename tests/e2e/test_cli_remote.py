"""The remote ``alp`` commands against a real ``alp up`` (API + worker) in a subprocess:
upload 600 images with a progress bar, interrupt with SIGINT and resume without
duplicates, a second run sends nothing, ``cycles start --watch`` to labeling, YOLO export
and import, ``--json`` everywhere, ``alp login`` (mode 0600)."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.e2e.test_alp_up import _start
from tests.support.processes import ROOT, free_port, stop_process, wait_for

KEY = "alp_abcdefabcdef_" + "c" * 43


def _images(folder: Path, n: int) -> Path:
    folder.mkdir()
    for i in range(n):
        im = Image.new("RGB", (40, 32), (i % 256, (i * 7) % 256, (i * 13) % 256))
        im.putpixel((i % 40, (i // 40) % 32), (255, 255, 255))
        im.save(folder / f"img{i:03d}.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("cli-server")
    port, log = free_port(), tmp / "up.log"
    proc = _start(tmp / "data", port, log, ALP_BOOTSTRAP_API_KEY=KEY)
    base = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            try:
                body = httpx.get(f"{base}/healthz", params={"wait": 3}, timeout=10).json()
            except httpx.HTTPError:
                return False
            return body["worker"]["status"] == "ok"

        wait_for(healthy, timeout=120, what="alp up (API and worker)")
        yield base
    finally:
        stop_process(proc)


def _env(base: str, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALP_")}
    env.update({"PYTHONPATH": str(ROOT), "XDG_CONFIG_HOME": str(home), "COLUMNS": "120"})
    env.update({"ALP_URL": base, "ALP_API_KEY": KEY, **extra})
    return env


def alp(env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "alp.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    if ok:
        assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


def _count(base: str, pool_id: int) -> int:
    r = httpx.get(f"{base}/api/v1/pools/{pool_id}", headers={"Authorization": f"Bearer {KEY}"})
    return r.json()["counts"]["total"]


N = 600  # images of the interrupted upload


def test_upload_interrupt_resume_and_second_run_sends_nothing(server, tmp_path: Path) -> None:
    env = _env(server, tmp_path)
    folder = _images(tmp_path / "imgs", N)
    pool = json.loads(alp(env, "pools", "create", "street", "--classes", "car,bus",
                          "--json").stdout)  # fmt: skip
    pid = pool["id"]
    # slow enough to interrupt: one image per request, one request at a time, and enough
    # images that the interrupt (sent once a few are stored) lands long before the end
    slow = subprocess.Popen(
        [sys.executable, "-m", "alp.cli", "upload", "street", str(folder), "--workers", "1",
         "--batch-files", "1"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: _count(server, pid) >= 5, timeout=120, interval=0.05,
                 what="part of the upload")  # fmt: skip
        slow.send_signal(signal.SIGINT)
        _, err = slow.communicate(timeout=60)
    finally:
        stop_process(slow)
    assert slow.returncode == 130, err
    assert "interrupted" in err and "run the same command again to resume" in err
    assert re.search(r"uploading .* \d+/\d+ +\d+\.\d img/s", err), err  # the progress bar
    partial = _count(server, pid)
    assert 5 <= partial < N, "the upload finished before the interrupt"

    second = alp(env, "upload", "street", str(folder), "--json", ok=False)
    summary = json.loads(second.stdout)
    # The one request in flight at the interrupt (one file per request) may still have been
    # stored by the server after ``partial`` was read: it is then skipped, not sent again.
    assert summary["files"] == N + 1 and summary["skipped"] in (partial, partial + 1), summary
    assert summary["accepted"] == N - summary["skipped"] and summary["duplicates"] == 0
    assert [r["file"] for r in summary["rejected"]] == [str(folder / "broken.jpg")]
    assert "not" in summary["rejected"][0]["reason"]
    assert _count(server, pid) == N

    third = alp(env, "upload", str(pid), str(folder), ok=False)  # human output, by id
    assert f"{N} already in the pool (not sent), 0 stored" in third.stderr
    assert "rejected" in third.stderr and "broken.jpg" in third.stderr
    assert _count(server, pid) == N

    # the pool's listing through the client agrees
    listed = json.loads(alp(env, "pools", "show", "street", "--json").stdout)
    assert listed["counts"]["unlabeled"] == N


def test_cycle_watch_next_batch_and_formats(server, tmp_path: Path) -> None:
    env = _env(server, tmp_path)
    folder = _images(tmp_path / "imgs", 12)
    pid = json.loads(alp(env, "pools", "create", "cyc", "--classes", "car", "--batch-size",
                         "4", "--json").stdout)["id"]  # fmt: skip
    alp(env, "upload", "cyc", str(folder), "--json", ok=False)
    started = alp(env, "cycles", "start", "cyc", "--watch", "--interval", "0.2", "--json")
    cycle = json.loads(started.stdout)
    assert cycle["pool_id"] == pid and cycle["state"] == "labeling"
    assert cycle["selection_size"] == 4
    listed = json.loads(alp(env, "cycles", "list", "cyc", "--json").stdout)
    assert [c["id"] for c in listed] == [cycle["id"]]
    batch = json.loads(alp(env, "next-batch", "cyc", "--json").stdout)
    assert batch["cycle_id"] == cycle["id"] and len(batch["items"]) == 4
    human = alp(env, "next-batch", "cyc").stdout
    assert batch["items"][0]["filename"] in human and "cycle #0 (labeling)" in human

    # label one image via COCO, export YOLO, import it into a new pool
    chosen = batch["items"][0]
    coco = tmp_path / "c.json"
    coco.write_text(json.dumps({
        "images": [{"id": 1, "file_name": chosen["filename"]}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 3, 10.5, 9]}],
        "categories": [{"id": 1, "name": "car"}],
    }))  # fmt: skip
    imp = json.loads(alp(env, "import", "cyc", "--format", "coco", str(coco), "--json").stdout)
    assert (imp["images_labeled"], imp["annotations"]) == (1, 1)
    out = tmp_path / "y.zip"
    info = json.loads(alp(env, "export", "cyc", "--format", "yolo", str(out), "--json").stdout)
    assert info["path"] == str(out) and out.stat().st_size == info["bytes"]
    names = zipfile.ZipFile(io.BytesIO(out.read_bytes())).namelist()
    assert f"images/{chosen['filename']}" in names and "data.yaml" in names
    alp(env, "pools", "create", "copy", "--classes", "car")
    back = json.loads(alp(env, "import", "copy", "-f", "yolo", str(out), "--json").stdout)
    assert (back["images_labeled"], back["annotations"], back["problems"]) == (1, 1, [])

    bad = alp(env, "import", "copy", "-f", "voc", str(out), "--json", ok=False)
    assert bad.returncode == 1 and json.loads(bad.stdout)["status"] == 422


def test_login_stores_credentials_0600_and_errors_are_json(server, tmp_path: Path) -> None:
    env = {k: v for k, v in _env(server, tmp_path).items() if k not in ("ALP_URL", "ALP_API_KEY")}
    missing = alp(env, "pools", "list", "--json", ok=False)
    assert missing.returncode == 1 and "alp login" in json.loads(missing.stdout)["error"]
    wrong = alp(env, "login", "--url", server, "--api-key", "alp_000000000000_x", "--json",
                ok=False)  # fmt: skip
    assert json.loads(wrong.stdout)["status"] == 401
    done = json.loads(alp(env, "login", "--url", server, "--api-key", KEY, "--json").stdout)
    path = Path(done["config"])
    assert path.parent.parent == tmp_path and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert isinstance(json.loads(alp(env, "pools", "list", "--json").stdout), list)
