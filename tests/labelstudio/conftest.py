"""Fixtures for the Label Studio tests: a real server (session), a real alp API + worker."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from celery import Celery
from PIL import Image as PILImage
from sqlalchemy.orm import Session, sessionmaker

from alp.config import Settings
from alp.db import Cycle, Image, Selection, make_engine, make_sessionmaker
from alp.jobs import make_celery
from alp.services import cycle_flow, keys
from alp.storage import LocalStorage, image_key
from tests.support import labelstudio as ls
from tests.support.processes import celery_worker


@pytest.fixture(scope="session")
def ls_exe() -> Path:
    return ls.label_studio_executable()


@pytest.fixture(scope="session")
def ls_template(ls_exe: Path) -> Path:
    return ls.template_data_dir(ls_exe)


@pytest.fixture(scope="session")
def ls_server(
    ls_exe: Path, ls_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ls.LabelStudioServer]:
    """One server for the session; every test works in its own project."""
    server = ls.fresh_server(ls_exe, ls_template, tmp_path_factory.mktemp("ls"))
    yield server
    server.stop()


@dataclass
class Stack:
    settings: Settings
    sessions: sessionmaker
    celery: Celery
    api: httpx.Client  # authenticated with an alp API key

    def db(self) -> Session:
        return self.sessions()

    def add_images(
        self,
        pool_id: int,
        n: int,
        size: tuple[int, int] = (64, 48),
        paint: Callable[[PILImage.Image, int], None] | None = None,
    ) -> list[int]:
        """Tiny PNGs (``paint(image, i)`` draws on them) stored and registered directly
        (the upload API has its own tests)."""
        storage = LocalStorage(self.settings.storage_dir)  # type: ignore[arg-type]
        ids = []
        with self.db() as db:
            for i in range(n):
                buf = io.BytesIO()
                pic = PILImage.new("RGB", size, (40 * i % 256, 7 * i % 256, 200))
                if paint is not None:
                    paint(pic, i)
                pic.save(buf, "PNG")
                data = buf.getvalue()
                sha = hashlib.sha256(data).hexdigest()
                key = image_key(pool_id, sha, "png")
                storage.put_bytes(key, data)
                row = Image(pool_id=pool_id, sha256=sha, storage_key=key, filename=f"img{i}.png",
                            content_type="image/png", size_bytes=len(data), width=size[0],
                            height=size[1], state="unlabeled", split="train")  # fmt: skip
                db.add(row)
                db.flush()
                ids.append(row.id)
            db.commit()
        return ids

    def create_pool(self, name: str, classes: list[str], n_images: int) -> tuple[int, list[int]]:
        resp = self.api.post("/api/v1/pools", json={"name": name, "classes": classes})
        assert resp.status_code == 201, resp.text
        pool_id = resp.json()["id"]
        return pool_id, self.add_images(pool_id, n_images)

    def enter_labeling(
        self, pool_id: int, predictions: dict[int, dict[str, Any]], cycle_id: int | None = None
    ) -> int:
        """Stand-in for training+scoring+selection: selection rows (rank = dict order),
        then the real ``enter_labeling`` transition (which queues the push)."""
        with self.db() as db:
            if cycle_id is None:
                cycle = Cycle(pool_id=pool_id, index=0, state="selecting", config={},
                              metrics={}, timings={}, issues=[])  # fmt: skip
                db.add(cycle)
                db.flush()
            else:
                cycle = db.get(Cycle, cycle_id)
                assert cycle is not None
                cycle.state = "selecting"
            for rank, (image_id, pred) in enumerate(predictions.items()):
                sel = Selection(cycle_id=cycle.id, image_id=image_id, rank=rank,
                                score=1.0 - rank / 10, components={}, prediction=pred)  # fmt: skip
                db.add(sel)
                db.get(Image, image_id).state = "queued"  # type: ignore[union-attr]
            db.flush()
            cycle_flow.enter_labeling(db, cycle, len(predictions))
            db.commit()
            return cycle.id


@pytest.fixture
def stack(tmp_path: Path, sqlite_url: str) -> Iterator[Stack]:
    """alp API (uvicorn, reachable by Label Studio) + an io-queue Celery worker."""
    port = ls.free_port()
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=sqlite_url,
        broker_url=f"sqla+sqlite:///{tmp_path / 'data' / 'broker.db'}",
        secret_key="test-secret-key",
        public_base_url=f"http://127.0.0.1:{port}",
    )
    settings.ensure_dirs()
    engine = make_engine(settings.database_url)
    celery = make_celery(settings)
    sessions = make_sessionmaker(engine, celery)
    with sessions() as db:
        key = keys.create_key(db, "ls-test").key
        db.commit()
    with ls.alp_api(settings, port), celery_worker(settings, queues="io"):
        api = httpx.Client(base_url=settings.public_base_url, timeout=60,
                           headers={"Authorization": f"Bearer {key}"})  # fmt: skip
        yield Stack(settings, sessions, celery, api)
        api.close()
    engine.dispose()
