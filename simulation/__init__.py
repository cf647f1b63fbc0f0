"""``alp simulate`` internals: run specs, data, the oracle loop, the torch backend, reports.

``spec`` is torch-free (the CLI parses options with it); the other modules import torch.
"""
