"""Upload throughput of the embedded runtime; prints JSON.

Starts a real API process (``uvicorn api.main:app``, as ``alp up`` does) on SQLite in a
temporary data dir, creates a pool, and POSTs N generated JPEGs over HTTP in requests of
``--batch`` files (sequentially by default, or from ``--clients`` threads). Reports
images/s over the whole run and p50/p95 request latency.

    .venv/bin/python bench/ingest.py [--images 500] [--batch 50] [--clients 1] [--zip]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alp import runtime  # noqa: E402
from alp.config import Settings  # noqa: E402
from alp.db import make_engine, make_sessionmaker  # noqa: E402
from alp.db.migrate import upgrade  # noqa: E402
from alp.services import keys  # noqa: E402


def make_jpegs(n: int, w: int, h: int, seed: int) -> list[bytes]:
    """Photo-like JPEGs (smooth gradients, shapes, mild noise), quality 90."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for _ in range(n):
        a, b, c = rng.uniform(0.2, 1.0, 3)
        base = np.stack([a * xx / w, b * yy / h, c * (xx + yy) / (w + h)], -1) * 255
        base += rng.normal(0, 6, base.shape)
        im = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(im)
        for _ in range(8):
            x0, y0 = int(rng.integers(0, w - 40)), int(rng.integers(0, h - 40))
            x1, y1 = x0 + int(rng.integers(20, 200)), y0 + int(rng.integers(20, 150))
            fill = tuple(int(v) for v in rng.integers(0, 256, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=fill)
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_api(data_dir: Path, port: int) -> tuple[subprocess.Popen, str]:
    settings = Settings(data_dir=data_dir, public_base_url=f"http://127.0.0.1:{port}")
    settings.ensure_dirs()
    upgrade(settings.database_url)
    with make_sessionmaker(make_engine(settings.database_url))() as db:
        key = keys.create_key(db, "bench").key
        db.commit()
    env = runtime.child_env(settings)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.Popen(
        runtime.api_command("127.0.0.1", port), env=env, cwd=ROOT, start_new_session=True
    )
    return proc, key


def wait_ready(client: httpx.Client, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.get("/api/v1/pools").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError("API did not start")


def cpu_seconds(pid: int) -> float | None:
    """User+system CPU seconds of a process (Linux /proc), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def as_zip(batch: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in batch:
            zf.writestr(name, data)
    return buf.getvalue()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=500)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--clients", type=int, default=1, help="Concurrent uploading threads.")
    p.add_argument("--zip", action="store_true", help="Send each batch as one zip.")
    p.add_argument("--warmup", type=int, default=1, help="Untimed batches sent first.")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    args = p.parse_args()

    images = make_jpegs(args.images, args.width, args.height, seed=0)
    named = [(f"img_{i:05d}.jpg", data) for i, data in enumerate(images)]
    batches = [named[i : i + args.batch] for i in range(0, len(named), args.batch)]
    warm = make_jpegs(args.batch * args.warmup, args.width, args.height, seed=1)
    warm_batches = [
        [(f"warm_{i:05d}.jpg", d) for i, d in enumerate(warm[k : k + args.batch])]
        for k in range(0, len(warm), args.batch)
    ]
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="alp-bench-") as tmp:
        proc, key = start_api(Path(tmp), port)
        headers = {"Authorization": f"Bearer {key}"}
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base, headers=headers, timeout=300) as client:
                wait_ready(client)
                pool = client.post("/api/v1/pools", json={"name": "bench", "classes": ["a"]})
                pool_id = pool.json()["id"]

            def send(batch: list[tuple[str, bytes]]) -> tuple[float, int]:
                if args.zip:
                    files = [("files", ("batch.zip", as_zip(batch), "application/zip"))]
                else:
                    files = [("files", (n, d, "image/jpeg")) for n, d in batch]
                with httpx.Client(base_url=base, headers=headers, timeout=300) as c:
                    t0 = time.perf_counter()
                    r = c.post(f"/api/v1/pools/{pool_id}/images", files=files)
                    dt = time.perf_counter() - t0
                r.raise_for_status()
                return dt, len(r.json()["accepted"])

            for batch in warm_batches:
                send(batch)
            cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()
            with ThreadPoolExecutor(args.clients) as ex:
                results = list(ex.map(send, batches))
            total = time.perf_counter() - t0
            cpu1 = cpu_seconds(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    lat = sorted(dt for dt, _ in results)
    accepted = sum(n for _, n in results)
    print(json.dumps({
        "bench": "ingest",
        "images": args.images,
        "accepted": accepted,
        "batch": args.batch,
        "clients": args.clients,
        "mode": "zip" if args.zip else "multipart",
        "image_size": [args.width, args.height],
        "mean_image_kb": round(sum(map(len, images)) / len(images) / 1024, 1),
        "images_per_s": round(accepted / total, 1),
        "total_s": round(total, 3),
        "request_ms": {
            "p50": round(statistics.median(lat) * 1000, 1),
            "p95": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))] * 1000, 1),
            "max": round(lat[-1] * 1000, 1),
        },
        "warmup_batches": args.warmup,
        "server_cpu_ms_per_image": (
            round((cpu1 - cpu0) * 1000 / accepted, 2) if cpu0 is not None and cpu1 else None
        ),
        "cpu_count": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
