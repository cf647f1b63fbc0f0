"""Concrete acquisition strategies; see :mod:`acquisition.registry` for lookup by name."""
