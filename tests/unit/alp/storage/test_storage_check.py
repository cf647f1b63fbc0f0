"""``alp storage check``: planted orphans and missing blobs, on both databases and stores."""

from __future__ import annotations

import os

from sqlalchemy.orm import Session
from typer.testing import CliRunner

from alp.db import Cycle
from alp.services.storage_check import check
from alp.storage import Storage
from tests.api.cycle_fixtures import make_pool


def test_planted_orphans_and_missing_blobs_are_found_then_fixed(
    db: Session, store: Storage
) -> None:
    pool_id, ids = make_pool(db, store, n=3)
    cycle = Cycle(pool_id=pool_id, index=0, state="done", config={}, metrics={}, timings={},
                  issues=[])  # fmt: skip
    db.add(cycle)
    db.commit()
    keys = sorted(store.iter_keys(""))
    store.put_bytes(f"pools/{pool_id}/images/zz/orphan.png", b"no row")  # planted orphan
    store.put_bytes(f"pools/{pool_id}/thumbs/{ids[0]}-preview.jpg", b"kept: image exists")
    store.put_bytes(f"pools/{pool_id}/thumbs/987654-preview.jpg", b"orphan: no image")
    store.put_bytes(f"pools/{pool_id}/checkpoints/cycle-{cycle.id}.pt", b"kept")
    store.put_bytes(f"pools/{pool_id}/checkpoints/cycle-31337.resume.pt", b"orphan: no cycle")
    store.put_bytes("pools/4242/images/aa/x.png", b"orphan: no pool")
    store.delete(keys[0])  # an image row's blob goes missing
    cycle.checkpoint_key = f"pools/{pool_id}/checkpoints/cycle-{cycle.id}-missing.pt"
    db.commit()

    report = check(db, store, min_age_s=0)
    assert sorted(report.orphans) == sorted([
        f"pools/{pool_id}/images/zz/orphan.png",
        f"pools/{pool_id}/thumbs/987654-preview.jpg",
        f"pools/{pool_id}/checkpoints/cycle-31337.resume.pt",
        "pools/4242/images/aa/x.png",
    ])  # fmt: skip
    assert any(keys[0] in m for m in report.missing)
    assert any("checkpoint" in m for m in report.missing) and len(report.missing) == 2
    assert check(db, store, min_age_s=3600).orphans == []  # fresh blobs may be in-flight

    fixed = check(db, store, fix=True, min_age_s=0)
    assert fixed.removed == 4
    assert check(db, store, min_age_s=0).orphans == []
    assert store.exists(f"pools/{pool_id}/thumbs/{ids[0]}-preview.jpg")


def test_cli_reports_and_exits_nonzero_on_orphans(settings, db: Session, monkeypatch) -> None:
    from alp.cli import app
    from alp.storage import open_storage

    store = open_storage(settings)
    make_pool(db, store, n=1)
    db.commit()
    store.put_bytes("pools/1/images/zz/orphan.png", b"x")
    for k, v in {"ALP_DATA_DIR": str(settings.data_dir),
                 "ALP_DATABASE_URL": settings.database_url}.items():  # fmt: skip
        monkeypatch.setenv(k, v)
    runner = CliRunner()
    out = runner.invoke(app, ["storage", "check", "--min-age", "0"])
    assert out.exit_code == 1, out.output
    assert "orphan  pools/1/images/zz/orphan.png" in out.output
    out = runner.invoke(app, ["storage", "check", "--min-age", "0", "--fix"])
    assert out.exit_code == 0 and "removed" in out.output
    assert not store.exists("pools/1/images/zz/orphan.png")
    assert os.environ["ALP_DATABASE_URL"] == settings.database_url
