"""``s3://`` backend on boto3: AWS S3 or any S3-compatible store (MinIO, Ceph RGW, R2).

boto3 because it is the reference S3 client: it reads credentials the standard AWS way
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``, profiles, instance
roles), speaks to any endpoint, streams reads, does multipart uploads, and signs
presigned URLs. A single PUT is atomic in S3, so no temp-object dance is needed.
"""

from __future__ import annotations

import functools
import mimetypes
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TypeVar
from urllib.parse import parse_qs, urlsplit

from alp.storage.base import BlobStorage, StorageUnavailable, check_key

MISSING = {"404", "NoSuchKey", "NotFound"}
T = TypeVar("T")


def _guard(fn: Callable[..., T]) -> Callable[..., T]:
    """Turn failures of the store itself (unreachable, denied, no bucket) into
    ``StorageUnavailable`` with the reason; a missing key stays ``FileNotFoundError``."""

    @functools.wraps(fn)
    def wrapper(self: S3Storage, *args: Any, **kwargs: Any) -> T:
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(self, *args, **kwargs)
        except Boto3Error as exc:  # e.g. S3UploadFailedError from upload_file
            cause = exc.__cause__ or exc.__context__
            why = self._reason(cause) if isinstance(cause, Exception) else str(exc)
            raise StorageUnavailable(why) from exc
        except ClientError as exc:
            raise StorageUnavailable(self._reason(exc)) from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(self._reason(exc)) from exc

    return wrapper


def _type(key: str) -> str:
    """Content type stored with an object (served as is by presigned URLs)."""
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


class S3Storage(BlobStorage):
    """Blobs as objects ``<prefix>/<key>`` in ``bucket``.

    URL: ``s3://bucket[/prefix][?endpoint_url=http://host:9000&region=...&addressing=path]``.
    The boto3 client is made lazily per process (clients must not cross a fork) and is
    thread-safe once made.
    """

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"not an s3:// URL with a bucket: {url!r}")
        self.url = url
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.endpoint_url = query.get("endpoint_url") or None
        self.region = query.get("region") or None
        self.addressing = query.get("addressing", "path" if self.endpoint_url else "auto")
        self._client: Any = None
        self._pid = 0
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"])  # type: ignore[misc]

    @property
    def client(self) -> Any:
        import os

        with self._lock:
            if self._client is None or self._pid != os.getpid():
                import boto3
                from botocore.config import Config

                cfg = Config(
                    connect_timeout=5,
                    read_timeout=60,
                    retries={"max_attempts": 3, "mode": "standard"},
                    s3={"addressing_style": self.addressing},
                    max_pool_connections=32,
                )
                self._client = boto3.session.Session().client(
                    "s3", endpoint_url=self.endpoint_url, region_name=self.region, config=cfg
                )
                self._pid = os.getpid()
            return self._client

    def _k(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _folder(self, prefix: str) -> str:
        p = prefix.strip("/")
        full = f"{self.prefix}/{p}" if self.prefix and p else (self.prefix or p)
        return f"{full}/" if full else ""

    @_guard
    def put_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self._k(key), Body=data, ContentType=_type(key)
        )

    @_guard
    def put_file(self, key: str, src: Path) -> None:
        extra = {"ContentType": _type(key)}
        self.client.upload_file(str(src), self.bucket, self._k(key), ExtraArgs=extra)

    def open(self, key: str) -> BinaryIO:
        return self.open_sized(key)[0]

    @_guard
    def open_sized(self, key: str) -> tuple[BinaryIO, int | None]:
        from botocore.exceptions import ClientError

        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self._k(key))
        except ClientError as exc:
            if _code(exc) in MISSING:
                raise FileNotFoundError(f"no blob {key!r} in {self.url}") from exc
            raise
        # botocore StreamingBody: read(n), close(), context manager
        return obj["Body"], int(obj["ContentLength"])

    @_guard
    def download(self, key: str, dest: Path) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.download_file(self.bucket, self._k(key), str(dest))
        except ClientError as exc:
            if _code(exc) in MISSING:
                raise FileNotFoundError(f"no blob {key!r} in {self.url}") from exc
            raise

    @_guard
    def size(self, key: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._k(key))
        except ClientError as exc:
            if _code(exc) in MISSING:
                return None
            raise
        return int(head["ContentLength"])

    def exists(self, key: str) -> bool:
        return self.size(key) is not None

    @_guard
    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._k(key))

    def _iter_raw(self, prefix: str) -> Iterator[dict[str, Any]]:
        pages = self.client.get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=self.bucket, Prefix=self._folder(prefix)):
            yield from page.get("Contents", [])

    def _iter_full(self, prefix: str) -> Iterator[str]:
        for obj in self._iter_raw(prefix):
            yield obj["Key"]

    def iter_objects(self, prefix: str = "") -> Iterator[tuple[str, int, float]]:
        """``(key, size, modified unix time)`` of every blob under folder ``prefix``."""
        strip = len(self.prefix) + 1 if self.prefix else 0
        for obj in self._iter_raw(prefix):
            yield obj["Key"][strip:], int(obj["Size"]), obj["LastModified"].timestamp()

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        for key, _, _ in self.iter_objects(prefix):
            yield key

    @_guard
    def delete_prefix(self, prefix: str) -> None:
        batch: list[dict[str, str]] = []
        for full in self._iter_full(prefix):
            batch.append({"Key": full})
            if len(batch) == 1000:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch})
                batch = []
        if batch:
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch})

    @_guard
    def presigned_url(self, key: str, ttl_s: int, content_type: str) -> str | None:
        params = {"Bucket": self.bucket, "Key": self._k(key), "ResponseContentType": content_type}
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=ttl_s)

    @_guard
    def check(self) -> None:
        """Raise ``StorageUnavailable`` with the reason unless the bucket is reachable
        with the configured credentials."""
        self.client.head_bucket(Bucket=self.bucket)

    def _reason(self, exc: Exception) -> str:
        """What is wrong with the store, for operators (``/readyz``, 503 bodies)."""
        from botocore.exceptions import ClientError, NoCredentialsError

        if isinstance(exc, NoCredentialsError):
            return "S3 credentials missing (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"
        if isinstance(exc, ClientError):
            code = _code(exc)
            why = {
                "404": "does not exist",
                "NoSuchBucket": "does not exist",
                "403": "access denied (check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)",
                "AccessDenied": "access denied (check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)",
                "InvalidAccessKeyId": "unknown access key (AWS_ACCESS_KEY_ID)",
                "SignatureDoesNotMatch": "wrong secret key (AWS_SECRET_ACCESS_KEY)",
            }.get(code, f"error {code}")
            return f"S3 bucket {self.bucket!r}: {why}"
        where = self.endpoint_url or "AWS S3"
        return f"S3 endpoint {where} unreachable: {exc}"
