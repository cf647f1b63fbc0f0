"""DataLoader worker processes inside a Celery prefork child (a daemonic billiard
process), as the ``standard`` profile uses on CUDA: ``modelling.allow_child_processes``
makes them startable."""

from __future__ import annotations

import billiard


def _load_in_child(allow: bool) -> str:
    import torch
    from torch.utils.data import DataLoader

    from worker.pipeline import modelling

    if allow:
        modelling.allow_child_processes()
    try:
        loader = DataLoader(list(range(8)), batch_size=4, num_workers=2)
        return str(sum(int(b.sum()) for b in loader))
    except AssertionError as exc:
        return f"refused: {exc}"
    finally:
        torch.set_num_threads(1)


def test_loader_workers_start_in_a_prefork_child() -> None:
    with billiard.Pool(1) as pool:
        refused, allowed = pool.map(_load_in_child, [False, True])
    assert "daemonic processes are not allowed to have children" in refused
    assert allowed == "28"
