"""The in-process active-learning loop with a ground-truth oracle: ``alp simulate``
(:mod:`simulation.cli`), the pool backtest's engine (:mod:`simulation.backtest`, run as a job
by ``worker.backtest_task``) and the demo's simulated annotator (:mod:`simulation.demo`,
with :mod:`simulation.synthetic_pool`).

Depends on ``models`` and ``acquisition`` (and ``alp`` for the demo's and the synthetic
pool's service calls), never on ``api`` or ``worker`` (tests/unit/test_import_boundaries.py).
``spec`` is torch-free (the CLI parses options with it); the loop, backend and CLI import
torch.
"""
