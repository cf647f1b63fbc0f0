"""Fixtures shared by the whole suite.

``db_url`` is parametrized over ``sqlite`` and ``postgres``; the postgres flavour needs
``ALP_TEST_POSTGRES_URL`` (``.ci/run`` sets it and fails when the server is unreachable;
locally it is skipped when unset). Every test gets its own data dir and an empty schema.
``_no_process_left_behind`` fails the session if any process it started outlives it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from alp.config import Settings  # noqa: E402
from alp.db import make_engine, make_sessionmaker  # noqa: E402
from alp.db.migrate import upgrade  # noqa: E402
from tests.support import databases, processes  # noqa: E402

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session", autouse=True)
def _no_process_left_behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Set up first, torn down last: any process still alive at the end of the session
    that this pytest process started (a descendant), or that names the session's temp dir
    (data dirs) in its command line or environment, is reported, killed, and fails the run.
    """
    since = time.time()
    basetemp = tmp_path_factory.getbasetemp()
    yield
    left = processes.leftovers(basetemp, since)
    if left:
        text = processes.describe(left)
        processes.kill_all(left)
        pytest.fail(f"the test session left {len(left)} process(es) running: {text}", False)


@pytest.fixture(scope="session")
def _pg_session_url() -> Iterator[str | None]:
    if databases.postgres_base_url() is None:
        yield None
        return
    with databases.private_postgres_database() as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "alp.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    _sqlite_template: Path,
    _pg_session_url: str | None,
) -> str:
    """An empty, migrated database for this test (SQLite file or private PostgreSQL db)."""
    if request.param == "sqlite":
        dest = tmp_path / "alp.db"
        dest.write_bytes(_sqlite_template.read_bytes())
        return f"sqlite:///{dest}"
    if _pg_session_url is None:
        databases.skip_or_fail(databases.PG_ENV)
    databases.truncate_all(_pg_session_url)
    return _pg_session_url


@pytest.fixture
def sqlite_url(tmp_path: Path, _sqlite_template: Path) -> str:
    """SQLite only (for tests that don't need the engine matrix)."""
    dest = tmp_path / "alp.db"
    dest.write_bytes(_sqlite_template.read_bytes())
    return f"sqlite:///{dest}"


def make_settings(data_dir: Path, database_url: str, **kw: object) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        broker_url=kw.pop("broker_url", f"sqla+sqlite:///{data_dir / 'broker.db'}"),
        secret_key="test-secret-key",
        public_base_url="http://testserver",
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    s = make_settings(tmp_path / "data", db_url)
    s.ensure_dirs()
    return s


@pytest.fixture
def sessions(settings: Settings):
    engine = make_engine(settings.database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def db(sessions):
    with sessions() as session:
        yield session


@pytest.fixture
def app(settings: Settings):
    from api.main import create_app

    return create_app(settings)


@pytest.fixture
def api_key(sessions) -> str:
    from alp.services import keys

    with sessions() as session:
        new = keys.create_key(session, "test")
        session.commit()
    return new.key


@pytest.fixture
def client(app, api_key: str):
    """A TestClient that sends a valid API key."""
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        c.headers["Authorization"] = f"Bearer {api_key}"
        yield c


@pytest.fixture
def anon_client(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Endpoint of a real S3-compatible server (see ``tests.support.s3``)."""
    from tests.support import s3

    s3.use_test_credentials()
    if os.environ.get(s3.S3_ENV):
        yield os.environ[s3.S3_ENV]
        return
    if not s3.moto_available():
        databases.skip_or_fail(s3.S3_ENV)
    with s3.moto_server(tmp_path_factory.mktemp("s3")) as endpoint:
        yield endpoint


@pytest.fixture
def s3_url(s3_endpoint: str) -> str:
    """``ALP_STORAGE_URL`` of a fresh bucket (with a key prefix) for one test."""
    from tests.support import s3

    return s3.storage_url(s3_endpoint, s3.make_bucket(s3_endpoint))
