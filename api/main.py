"""FastAPI application factory. ``uvicorn api.main:app`` or ``create_app(settings)``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI

from alp import __version__, logs
from alp.config import Settings, get_settings
from alp.db import make_engine, make_sessionmaker
from alp.jobs import make_celery
from alp.labelstudio import connect as labelstudio_connect
from alp.storage import open_storage
from api import errors, openapi
from api.cors import ContentCORS
from api.dashboard import data as dashboard_data
from api.dashboard import pages as dashboard_pages
from api.deps import AppState
from api.log_context import LogContext
from api.routes import (
    annotations,
    backtests,
    coco,
    cycles,
    datasets,
    health,
    images,
    jobs,
    labelstudio,
    pools,
)
from api.routes import audit as audit_routes
from api.routes import keys as keys_routes
from api.routes import models as model_routes
from api.routes import predictions as prediction_routes
from api.strict_json import strict_json_body

API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None) -> FastAPI:
    s = settings or get_settings()
    s.ensure_dirs()
    s.resolved_secret_key()
    engine = make_engine(s.database_url)
    app = FastAPI(
        title="alp",
        version=__version__,
        description="Active-learning annotation pipeline for object detection.",
        docs_url="/docs",
        openapi_url="/openapi.json",
        dependencies=[Depends(strict_json_body)],
    )
    celery = make_celery(s)
    app.state.alp = AppState(
        settings=s,
        sessions=make_sessionmaker(engine, celery),
        storage=open_storage(s),
        celery=celery,
    )
    errors.install(app)
    openapi.install(app)
    api = APIRouter(prefix=API_PREFIX)
    for module in (pools, images, coco, cycles, jobs, annotations, labelstudio, dashboard_data):
        api.include_router(module.router)
    api.include_router(images.public)
    api.include_router(labelstudio.public)
    api.include_router(datasets.router)
    api.include_router(model_routes.router)
    api.include_router(prediction_routes.router)
    api.include_router(backtests.router)
    api.include_router(keys_routes.router)
    api.include_router(audit_routes.router)
    app.include_router(api)
    app.include_router(health.router)
    app.include_router(health.router, prefix=API_PREFIX, include_in_schema=False)
    dashboard_pages.mount(app)

    def origins() -> set[str]:
        with app.state.alp.sessions() as db:
            return labelstudio_connect.content_origins(db, s)

    app.add_middleware(ContentCORS, origins=origins)
    if s.log_format == "json":
        logs.configure("json")
        app.add_middleware(LogContext)
    return app


def __getattr__(name: str) -> FastAPI:
    # ``uvicorn api.main:app`` builds the app lazily from the environment.
    if name == "app":
        return create_app()
    raise AttributeError(name)
