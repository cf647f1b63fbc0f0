"""Backup -> empty target -> restore, on SQLite and PostgreSQL: same rows, same bytes,
same API answers."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from alp.cli import app as cli_app
from alp.storage import LocalStorage
from api.main import create_app
from tests.api.cycle_fixtures import labeling_cycle, make_pool
from tests.conftest import make_settings
from tests.support import databases


def _answers(client: TestClient, pool_id: int, image_ids: list[int]) -> dict[str, Any]:
    def get(url: str) -> Any:
        r = client.get(url)
        assert r.status_code == 200, (url, r.text)
        return r.json()

    keys = [{k: v for k, v in row.items() if k != "last_used_at"} for row in get("/api/v1/keys")]
    return {
        "pools": get("/api/v1/pools"),
        "images": get(f"/api/v1/pools/{pool_id}/images"),
        "cycles": get(f"/api/v1/pools/{pool_id}/cycles"),
        "history": [get(f"/api/v1/images/{i}/annotation/history") for i in image_ids],
        "annotations": [get(f"/api/v1/images/{i}/annotation") for i in image_ids],
        "bytes": [client.get(f"/api/v1/images/{i}/content").content for i in image_ids],
        "keys": keys,
        "audit": get("/api/v1/audit"),
    }


def _cli(url: str, data_dir: Path, *args: str) -> str:
    env = {"ALP_DATABASE_URL": url, "ALP_DATA_DIR": str(data_dir)}
    r = CliRunner().invoke(cli_app, list(args), env=env)
    assert r.exit_code == 0, r.output
    return r.output


def test_backup_wipe_restore(client, db, settings, api_key, tmp_path: Path) -> None:
    pool_id, ids = make_pool(db, LocalStorage(settings.storage_dir), n=3)
    labeling_cycle(db, pool_id, ids[:2])
    db.commit()
    for x in (1, 2):
        box = {"x1": x, "y1": 1, "x2": 9, "y2": 9, "label": "cat"}
        assert client.put(f"/api/v1/images/{ids[0]}/annotation", json={"boxes": [box]}).is_success
    assert client.post("/api/v1/keys", json={"name": "ann", "role": "annotator"}).is_success
    before = _answers(client, pool_id, ids)
    assert len(before["history"][0]) == 2 and len(before["bytes"][0]) > 0

    out = tmp_path / "backup"
    assert "3 files" in _cli(settings.database_url, settings.data_dir, "backup", str(out))
    with ExitStack() as stack:
        target_dir = tmp_path / "restored"
        if settings.database_url.startswith("sqlite"):
            target_url = f"sqlite:///{target_dir / 'alp.db'}"
        else:
            target_url = stack.enter_context(databases.private_postgres_database())
        _cli(target_url, target_dir, "restore", str(out))
        again = CliRunner().invoke(
            cli_app, ["restore", str(out)],
            env={"ALP_DATABASE_URL": target_url, "ALP_DATA_DIR": str(target_dir)},
        )  # fmt: skip
        assert again.exit_code == 2 and "empty" in again.output  # never over data
        restored = create_app(make_settings(target_dir, target_url))
        with TestClient(restored) as c:
            c.headers["Authorization"] = f"Bearer {api_key}"
            after = _answers(c, pool_id, ids)
        restored.state.alp.sessions.kw["bind"].dispose()
    assert after == before
