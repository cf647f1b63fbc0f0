"""Resume checkpoints of the training stage: the periodic training state of
``models.engine.train`` kept in storage while a cycle trains, so a replacement worker
continues where a lost one stopped instead of starting at iteration 0.

One file per cycle (``pools/<p>/checkpoints/cycle-<c>.resume.pt``), written atomically
(``torch.save`` to a temporary file in the same folder, then rename). It records a
fingerprint of the training inputs (train config, labeled manifest, classes): a state whose
inputs changed (new labels, other settings after a retry) is discarded, never resumed.
Torch is imported inside functions only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from alp.storage import Storage

log = logging.getLogger("alp.worker.resume")
SUFFIX = ".resume.pt"


def resume_key(pool_id: int, cycle_id: int) -> str:
    return f"pools/{pool_id}/checkpoints/cycle-{cycle_id}{SUFFIX}"


def fingerprint(config: Any, manifest: list[dict[str, Any]], classes: list[str]) -> str:
    """Digest of what training depends on: the config, the labeled data, the classes."""
    cfg = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else config
    blob = json.dumps(
        {"config": cfg, "manifest": manifest, "classes": classes}, sort_keys=True, default=str
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def save(storage: Storage, key: str, digest: str, state: dict[str, Any]) -> None:
    """Write ``state`` (a ``models.engine.train`` state) under ``key`` atomically."""
    import torch

    with tempfile.TemporaryDirectory(prefix="alp-resume-") as tmp:
        path = Path(tmp) / "state.pt"
        torch.save({"fingerprint": digest, "state": state}, path)
        storage.put_file(key, path)


def load(storage: Storage, key: str, digest: str) -> dict[str, Any] | None:
    """The saved state if there is one for these inputs; a stale or unreadable file is
    deleted and None returned (training then starts fresh)."""
    import torch

    try:
        data = storage.read_bytes(key)
    except FileNotFoundError:
        return None
    try:
        saved = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torn by a crash of an older version, disk trouble, ...
        log.warning("unreadable resume checkpoint %s (%s); starting fresh", key, exc)
        storage.delete(key)
        return None
    if not isinstance(saved, dict) or saved.get("fingerprint") != digest:
        log.info("resume checkpoint %s is for other inputs; starting fresh", key)
        storage.delete(key)
        return None
    return saved["state"]


def discard(storage: Storage, key: str) -> None:
    storage.delete(key)


def discard_others(storage: Storage, pool_id: int, keep: str) -> None:
    """Delete the pool's resume checkpoints other than ``keep`` (left by cycles that were
    cancelled or failed by the watchdog while a file existed)."""
    for key in list(storage.iter_keys(f"pools/{pool_id}/checkpoints")):
        if key.endswith(SUFFIX) and key != keep:
            storage.delete(key)
