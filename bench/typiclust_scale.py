"""TypiClust (or ``--strategy probcover``) selection time on a large synthetic embedding
pool (phase 2 only: k-means into |labelled| + budget clusters, typicality, greedy picks;
for probcover the δ choice and greedy coverage). Prints JSON.

    python bench/typiclust_scale.py --pool 100000 --dim 256 --labeled 2000 --budget 500
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pool", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--labeled", type=int, default=2000)
    ap.add_argument("--budget", type=int, default=500)
    ap.add_argument("--blobs", type=int, default=50, help="Gaussian blobs the pool is drawn from")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--strategy", default="typiclust", choices=("typiclust", "probcover"))
    args = ap.parse_args(argv)

    import torch

    from acquisition.records import ImageRecord, ScoringContext, pack_tensor
    from acquisition.registry import get_strategy

    if args.threads:
        torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    centres = 4 * torch.randn(args.blobs, args.dim, generator=g)
    which = torch.randint(args.blobs, (args.pool + args.labeled,), generator=g)
    x = centres[which] + torch.randn(args.pool + args.labeled, args.dim, generator=g)
    records = [
        ImageRecord(i, 0.0, data={"embedding": pack_tensor(x[args.labeled + i])})
        for i in range(args.pool)
    ]
    ctx = ScoringContext(num_classes=1, labeled_embeddings=x[: args.labeled])
    strat = get_strategy(args.strategy)
    start = time.perf_counter()
    chosen = strat.select(records, args.budget, ctx, 0)
    seconds = time.perf_counter() - start
    picked_blobs = {int(which[args.labeled + int(s.image_id)]) for s in chosen}
    out = {
        "benchmark": f"{args.strategy} phase 2 on synthetic embeddings",
        "pool": args.pool, "dim": args.dim, "labeled": args.labeled, "budget": args.budget,
        "clusters": min(args.labeled + args.budget, strat.params.get("max_clusters", 0)),
        "threads": torch.get_num_threads(), "seconds": round(seconds, 2),
        "selected": len(chosen), "blobs_covered": len(picked_blobs), "blobs": args.blobs,
    }  # fmt: skip
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
