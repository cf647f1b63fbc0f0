"""Celery tasks (thin) and pipelines: the only code where database rows meet torch.

Torch is imported lazily inside pipelines, never at module import, so CUDA is never
initialised before the worker forks."""
