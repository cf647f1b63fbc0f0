"""Blob storage for images, thumbnails and checkpoints, behind one interface.

Keys are ``/``-separated relative paths (``pools/3/images/ab/abcd....jpg``). Two backends:
``LocalStorage`` (files under a directory, ``file:///data``) and ``S3Storage`` (any
S3-compatible store, ``s3://bucket/prefix?endpoint_url=...``), chosen by one URL
(``ALP_STORAGE_URL``; see ``open_storage``). Callers never get local paths from a store:
they read streams or bytes. Workers that need files (Pillow, torch) go through
``BlobCache``, a bounded LRU copy on local disk.

Contract, both backends: a ``put_*`` is atomic (readers see the old object, nothing, or
the whole new object, never a part); ``open`` of a missing key raises
``FileNotFoundError``; ``delete`` of a missing key is a no-op.
"""

from __future__ import annotations

from alp.storage.base import (
    BlobStorage,
    Storage,
    StorageUnavailable,
    checkpoint_key,
    image_key,
    thumbnail_key,
)
from alp.storage.cache import BlobCache, CachedBlob
from alp.storage.factory import open_storage, storage_url
from alp.storage.local import LocalStorage

__all__ = [
    "BlobCache",
    "BlobStorage",
    "CachedBlob",
    "LocalStorage",
    "Storage",
    "StorageUnavailable",
    "checkpoint_key",
    "image_key",
    "open_storage",
    "storage_url",
    "thumbnail_key",
]
