"""``store``: one blob store per test, parametrized over the local and S3 backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from alp.storage import Storage
from alp.storage.factory import open_storage_url


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return open_storage_url((tmp_path / "store").as_uri())
    return open_storage_url(request.getfixturevalue("s3_url"))
