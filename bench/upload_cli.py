"""``alp upload`` throughput against plain multipart requests of the same files; prints JSON.

Starts ``alp up`` (embedded SQLite, no worker) on a free port with a temporary data dir,
writes ``--images`` JPEGs, then, each into its own fresh pool:

1. ``plain``: the files POSTed with httpx, ``--batch`` per request on ``--workers``
   threads (no hashing, no lookup) — the ceiling;
2. ``cli``: ``alp upload POOL DIR`` in a subprocess (same batch size and workers), wall
   time including the interpreter start, hashing and the SHA-256 lookup;
3. ``resume``: the same command again: everything is skipped, nothing re-sent.

``cli_over_plain`` is the ratio of images/s (target >= 0.9).

Usage: ``python bench/upload_cli.py [--images 1000] [--size 640x480] [--workers 4]``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from tests.support.processes import stop_process, wait_for  # noqa: E402

KEY = "alp_b0b0b0b0b0b0_" + "u" * 43


def _images(folder: Path, n: int, w: int, h: int) -> None:
    folder.mkdir()
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    for i in range(n):
        arr = base.copy()
        arr[i % h, :, :] = i % 256  # unique content per file
        Image.fromarray(arr).save(folder / f"img{i:05d}.jpg", quality=90)


def _pool(api: httpx.Client, name: str) -> int:
    r = api.post("/api/v1/pools", json={"name": name, "classes": ["a"]})
    r.raise_for_status()
    return r.json()["id"]


def _plain(api: httpx.Client, pool: int, files: list[Path], batch: int, workers: int) -> float:
    chunks = [files[i : i + batch] for i in range(0, len(files), batch)]

    def send(chunk: list[Path]) -> None:
        body = [("files", (f.name, f.read_bytes())) for f in chunk]
        api.post(f"/api/v1/pools/{pool}/images", files=body).raise_for_status()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        list(ex.map(send, chunks))
    return time.perf_counter() - t0


def _cli(env: dict[str, str], pool: int, folder: Path, batch: int, workers: int) -> tuple:
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "alp.cli", "upload", str(pool), str(folder), "--json",
         "--workers", str(workers), "--batch-files", str(batch)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return time.perf_counter() - t0, json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        folder = tmp / "imgs"
        _images(folder, args.images, w, h)
        files = sorted(folder.iterdir())
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALP_")}
        env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", ALP_BOOTSTRAP_API_KEY=KEY)
        log = (tmp / "up.log").open("wb")
        server = subprocess.Popen(
            [sys.executable, "-m", "alp.cli", "up", "--port", str(port), "--data-dir",
             str(tmp / "data"), "--no-worker"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {KEY}"},
                               timeout=300)  # fmt: skip

            def up() -> bool:
                try:
                    return api.get("/api/v1/pools").status_code == 200
                except httpx.HTTPError:
                    return False

            wait_for(up, timeout=120, what="alp up")
            plain_s = _plain(api, _pool(api, "plain"), files, args.batch, args.workers)
            cli_env = {**env, "ALP_URL": base, "ALP_API_KEY": KEY}
            pool = _pool(api, "cli")
            cli_s, first = _cli(cli_env, pool, folder, args.batch, args.workers)
            resume_s, again = _cli(cli_env, pool, folder, args.batch, args.workers)
        finally:
            stop_process(server)
    n = args.images
    print(json.dumps({
        "images": n, "size": args.size, "workers": args.workers, "batch": args.batch,
        "plain_images_per_s": round(n / plain_s, 1),
        "cli_images_per_s": round(n / cli_s, 1),
        "cli_over_plain": round(plain_s / cli_s, 3),
        "cli_accepted": first["accepted"],
        "resume_s": round(resume_s, 2), "resume_skipped": again["skipped"],
        "resume_sent": again["accepted"] + again["duplicates"] + len(again["rejected"]),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
