"""Request dependencies: settings, DB session, storage, Celery, API-key auth."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from celery import Celery
from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from alp.config import Settings
from alp.db import ApiKey
from alp.errors import Unauthorized
from alp.services import keys
from alp.storage import LocalStorage


@dataclass
class AppState:
    settings: Settings
    sessions: sessionmaker
    storage: LocalStorage
    celery: Celery


def state(request: Request) -> AppState:
    return request.app.state.alp


def get_db(request: Request) -> Iterator[Session]:
    db: Session = state(request).sessions()
    try:
        yield db
    finally:
        db.close()


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def require_key(request: Request, db: Annotated[Session, Depends(get_db)]) -> ApiKey:
    """Authenticate by ``Authorization: Bearer <key>`` (or the dashboard's session cookie)."""
    token = bearer_token(request)
    if token is None:
        cookie_key = getattr(request.state, "cookie_api_key", None)
        if cookie_key is None:
            raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
        token = cookie_key
    row = keys.verify_key(db, token)
    keys.touch(db, row)
    db.commit()
    return row


DB = Annotated[Session, Depends(get_db)]
Key = Annotated[ApiKey, Depends(require_key)]
State = Annotated[AppState, Depends(state)]
