"""Neural-network code: detector builders, heads, losses, samplers, data, engine, evaluation,
inference and checkpoints. Depends on torch/torchvision only (no DB, settings or Celery).

Submodules are imported explicitly (``from models.builders import build_detector``); this
package file stays empty so that importing one part does not import them all.
"""
