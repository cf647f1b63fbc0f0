"""The ``export_onnx`` job (``GET .../model?format=onnx``, ``alp.services.models_onnx``):
load the cycle's checkpoint, export it with ``models.export.export_onnx`` (one image in;
boxes, labels, scores out) and store the file under the job's key, next to the
checkpoint. A thread beats the job's heartbeat while the export runs (one blocking call);
older ONNX files of the same cycle are deleted. Failures are recorded on the job (the
route answers 409 with them); the task itself never fails."""

from __future__ import annotations

import logging
import tempfile
import threading
from pathlib import Path

from alp.db import Cycle, Job
from alp.services import job_rows, models_out
from worker import context

log = logging.getLogger("alp.worker.model_export")


def run(job_id: int) -> None:
    settings = context.settings()
    with context.session() as db:
        token = job_rows.claim(db, job_id, settings.worker_stale_after_s)
        job = db.get(Job, job_id)
        payload = dict(job.payload or {}) if job is not None else {}
        db.commit()
    if token is None:
        return
    stop = threading.Event()
    beats = threading.Thread(target=_beat, args=(job_id, token, stop,
                             max(1.0, settings.worker_stale_after_s / 3)), daemon=True)  # fmt: skip
    beats.start()
    try:
        if _current(payload):
            size = _export(payload["checkpoint_key"], payload["key"])
            state, message, error = "succeeded", f"exported ONNX ({size / 1e6:.1f} MB)", None
        else:  # a newer request exports the newer checkpoint
            state, message, error = "succeeded", "skipped: the checkpoint changed since", None
    except ImportError as exc:
        state, message = "failed", "failed"
        error = f"the worker cannot export ONNX without the onnx package (pip install onnx): {exc}"
    except Exception as exc:  # the job records why; the task itself does not fail
        log.exception("ONNX export job %s failed", job_id)
        state, message, error = "failed", "failed", f"{type(exc).__name__}: {exc}"
    finally:
        stop.set()
        beats.join()
    with context.session() as db:
        job_rows.finish(db, job_id, token, state, message, error=error)
        db.commit()


def _beat(job_id: int, token: int, stop: threading.Event, every_s: float) -> None:
    while not stop.wait(every_s):
        with context.session() as db:
            job_rows.beat(db, job_id, token, 0.5, "exporting")
            db.commit()


def _current(payload: dict[str, object]) -> bool:
    """Whether the cycle's checkpoint is still the version the request saw."""
    with context.session() as db:
        cycle = db.get(Cycle, int(str(payload["cycle_id"])))
        if cycle is None or cycle.checkpoint_key != payload["checkpoint_key"]:
            return False
        size = context.storage().size(cycle.checkpoint_key)
        return models_out.version(cycle, size) == payload["version"]


def _export(checkpoint_key: str, key: str) -> int:
    """Export the checkpoint to ``key``; returns the file's size in bytes."""
    from models import load_detector
    from models.export import export_onnx

    storage = context.storage()
    model, _names = load_detector(context.cache().fetch(checkpoint_key))
    with tempfile.TemporaryDirectory(prefix="alp-onnx-") as tmp:
        path = export_onnx(model, Path(tmp) / "model.onnx")
        storage.put_file(key, path)
        size = path.stat().st_size
    folder, _, name = checkpoint_key.rpartition("/")
    stem = name[:-3] if name.endswith(".pt") else name
    for old in list(storage.iter_keys(folder)):
        base = old.rpartition("/")[2]
        if base.startswith(stem + ".") and base.endswith(".onnx") and old != key:
            storage.delete(old)  # an export of an earlier version of this checkpoint
    return size
