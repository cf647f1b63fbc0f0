"""A real S3-compatible server for tests (moto's standalone server) and private buckets.

``ALP_TEST_S3_URL`` (an endpoint such as ``http://127.0.0.1:9000``; ``.ci/run`` starts one)
is used when set; otherwise the session starts ``python -m moto.server`` (the ``test``
extra installs ``moto[server]``) on a free port and stops it at the end. When neither is
possible the S3 tests skip, or fail under ``ALP_TEST_REQUIRE_SERVICES=1``. Each test gets
its own bucket, so tests never share objects.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.processes import free_port, wait_for

S3_ENV = "ALP_TEST_S3_URL"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "alp-test",
    "AWS_SECRET_ACCESS_KEY": "alp-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def use_test_credentials() -> None:
    """Credentials for the test server (moto accepts any) unless some are configured."""
    for k, v in CREDENTIALS.items():
        os.environ.setdefault(k, v)


def _answers(endpoint: str) -> bool:
    import httpx

    try:
        httpx.get(endpoint, timeout=1.0)  # any answer: the server is up
        return True
    except httpx.HTTPError:
        return False


@contextmanager
def moto_server(log_dir: Path, **env: str) -> Iterator[str]:
    """``python -m moto.server`` on a free port (``env`` added to its environment, e.g.
    ``INITIAL_NO_AUTH_ACTION_COUNT="0"`` to check credentials); yields its endpoint URL."""
    port = free_port()
    log = (log_dir / "moto.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **env},
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: proc.poll() is not None or _answers(endpoint), 60, what="moto server")
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited ({proc.returncode}); see {log.name}")
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def moto_available() -> bool:
    try:
        import moto.server  # noqa: F401
    except ImportError:
        return False
    return True


def make_bucket(endpoint: str, prefix: str = "alp-t") -> str:
    """A new empty bucket on ``endpoint``; returns its name."""
    import boto3

    name = f"{prefix}-{secrets.token_hex(6)}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=name)
    return name


def storage_url(endpoint: str, bucket: str, prefix: str = "alp") -> str:
    return f"s3://{bucket}/{prefix}?endpoint_url={endpoint}"
