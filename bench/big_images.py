"""Memory and time of the API on small files with huge dimensions; prints JSON.

Generates mostly-uniform RGBA PNGs of ``--side``² pixels (64 MP at the default 8000: a
256 MB decode from a ~250 KB file), starts a real API process (``uvicorn api.main:app`` on
SQLite, as ``alp up`` does) and measures the API's resident memory (psutil, process plus
children, sampled every 20 ms) and wall time for two phases:

1. ``--uploads`` concurrent POSTs of ``--per-request`` big PNGs each (distinct images);
2. ``--thumbs`` concurrent 512-px selection-thumbnail requests, one per uploaded image
   (a finished cycle with one selection per image is written straight to the database);
   ``--drop-previews`` deletes the previews made at upload first, so the originals are
   decoded (the path of images stored before previews existed).

    .venv/bin/python bench/big_images.py [--side 8000] [--uploads 1] [--per-request 6]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path

import httpx
import psutil
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alp.config import Settings  # noqa: E402
from alp.db import Cycle, Selection, make_engine, make_sessionmaker  # noqa: E402
from bench.ingest import free_port, start_api, wait_ready  # noqa: E402

MB = 1024 * 1024


def make_png(path: Path, side: int, seed: int) -> Path:
    """A mostly-uniform ``side``² RGBA PNG, distinct per ``seed`` (a few hundred KB)."""
    if not path.exists():
        im = Image.new("RGBA", (side, side), (40 + seed % 200, 90, 140, 255))
        draw = ImageDraw.Draw(im)
        for k in range(4):
            x, y = (seed * 997 + k * 1999) % (side - 600), (seed * 331 + k * 2741) % (side - 600)
            draw.rectangle((x, y, x + 500, y + 400), fill=(250, 200 - 40 * k, 30 * k, 255))
        im.save(path, "PNG", compress_level=6)
    return path


def rss(proc: psutil.Process) -> int:
    """Resident bytes of ``proc`` and all its children."""
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        with suppress(psutil.NoSuchProcess):
            total += child.memory_info().rss
    return total


class PeakSampler:
    """Samples ``rss(proc)`` on a thread until stopped; ``peak`` is the maximum seen."""

    def __init__(self, proc: psutil.Process, interval: float = 0.02) -> None:
        self.proc, self.interval = proc, interval
        self.peak = rss(proc)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, rss(self.proc))
            except psutil.NoSuchProcess:
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss(self.proc))


def add_selections(database_url: str, pool_id: int, image_ids: list[int]) -> list[int]:
    """One finished cycle selecting every image (a box on each); returns the selection ids."""
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as db:
            cycle = Cycle(pool_id=pool_id, index=0, state="done")
            db.add(cycle)
            db.flush()
            sels = [
                Selection(cycle_id=cycle.id, image_id=i, rank=r, score=1.0, prediction={
                    "boxes": [[100, 100, 4000, 3000]], "labels": ["a"], "scores": [0.9]})
                for r, i in enumerate(image_ids)
            ]  # fmt: skip
            db.add_all(sels)
            db.commit()
            return [s.id for s in sels]
    finally:
        engine.dispose()


def run(args: argparse.Namespace, pngs: list[Path], data_dir: Path) -> dict:
    port = free_port()
    proc, key = start_api(data_dir, port)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    api = psutil.Process(proc.pid)
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
            wait_ready(client)
            pool_id = client.post("/api/v1/pools", json={"name": "big", "classes": ["a"]}).json()[
                "id"
            ]
            baseline = rss(api)

            def upload(k: int) -> tuple[float, int, list[int]]:
                batch = pngs[k * args.per_request : (k + 1) * args.per_request]
                files = [("files", (p.name, p.read_bytes(), "image/png")) for p in batch]
                t0 = time.perf_counter()
                r = client.post(f"/api/v1/pools/{pool_id}/images", files=files)
                ids = [a["image_id"] for a in r.json().get("accepted", [])]
                return time.perf_counter() - t0, r.status_code, ids

            with PeakSampler(api) as up_peak, ThreadPoolExecutor(args.uploads) as ex:
                t0 = time.perf_counter()
                ups = list(ex.map(upload, range(args.uploads)))
                up_wall = time.perf_counter() - t0
            after_upload = rss(api)
            image_ids = [i for _, _, ids in ups for i in ids]
            if args.drop_previews:
                for f in (data_dir / "storage" / f"pools/{pool_id}/thumbs").glob("*-preview.jpg"):
                    f.unlink()
            sel_ids = add_selections(Settings(data_dir=data_dir).database_url, pool_id, image_ids)

            def thumb(sid: int) -> tuple[float, int]:
                t0 = time.perf_counter()
                r = client.get(f"/api/v1/dashboard/selections/{sid}/thumbnail?size=512")
                return time.perf_counter() - t0, r.status_code

            wanted = (sel_ids * args.thumbs)[: args.thumbs]
            with PeakSampler(api) as th_peak, ThreadPoolExecutor(max(1, args.thumbs)) as ex:
                t0 = time.perf_counter()
                ths = list(ex.map(thumb, wanted))
                th_wall = time.perf_counter() - t0
            after_thumbs = rss(api)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {
        "baseline_rss_mb": round(baseline / MB),
        "upload": {
            "requests": args.uploads,
            "images_per_request": args.per_request,
            "statuses": sorted(s for _, s, _ in ups),
            "accepted": len(image_ids),
            "peak_rss_mb": round(up_peak.peak / MB),
            "peak_over_baseline_mb": round((up_peak.peak - baseline) / MB),
            "rss_after_mb": round(after_upload / MB),
            "request_s": sorted(round(dt, 2) for dt, _, _ in ups),
            "wall_s": round(up_wall, 2),
        },
        "thumbnails": {
            "requests": len(wanted),
            "from": "originals" if args.drop_previews else "previews",
            "statuses": sorted(s for _, s in ths),
            "peak_rss_mb": round(th_peak.peak / MB),
            "peak_over_baseline_mb": round((th_peak.peak - baseline) / MB),
            "rss_after_mb": round(after_thumbs / MB),
            "request_s": sorted(round(dt, 2) for dt, _ in ths),
            "wall_s": round(th_wall, 2),
        },
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--side", type=int, default=8000, help="Width and height of each PNG.")
    p.add_argument("--uploads", type=int, default=1, help="Concurrent upload requests.")
    p.add_argument("--per-request", type=int, default=6, help="PNGs per upload request.")
    p.add_argument("--thumbs", type=int, default=6, help="Concurrent thumbnail requests.")
    p.add_argument("--drop-previews", action="store_true", help="Thumbnails from originals.")
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "alp-big-pngs")
    args = p.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    n = args.uploads * args.per_request
    t0 = time.perf_counter()
    pngs = [make_png(args.cache / f"big-{args.side}-{i}.png", args.side, i) for i in range(n)]
    gen_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="alp-bench-big-") as tmp:
        result = run(args, pngs, Path(tmp))
    print(json.dumps({
        "bench": "big_images",
        "image": f"{args.side}x{args.side} RGBA PNG",
        "mean_file_kb": round(sum(p.stat().st_size for p in pngs) / len(pngs) / 1024, 1),
        "generate_s": round(gen_s, 1),
        **result,
        "cpu_count": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
