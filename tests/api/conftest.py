"""Fixtures shared by the API tests: the local file storage of the test settings and a
dashboard client signed in with the admin key."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from alp.storage import LocalStorage


@pytest.fixture
def storage(settings) -> LocalStorage:
    assert settings.storage_dir is not None
    return LocalStorage(settings.storage_dir)


@pytest.fixture
def signed_in(anon_client: TestClient, api_key: str) -> TestClient:
    """``anon_client`` after signing in to the dashboard (session cookie set)."""
    r = anon_client.post("/login", data={"api_key": api_key}, follow_redirects=False)
    assert r.status_code == 303
    return anon_client
