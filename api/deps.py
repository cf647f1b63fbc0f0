"""Request dependencies: settings, DB session, storage, Celery, API-key auth.

Auth reads its credentials through FastAPI's security classes (``HTTPBearer``,
``APIKeyCookie``, both with ``auto_error=False`` so that a missing or bad credential is our
own 401 ``{"detail": ...}`` with ``WWW-Authenticate: Bearer``), which is what documents the
``bearerAuth`` / ``sessionCookie`` schemes and each keyed operation's ``security`` in
OpenAPI. Keyed routers take ``require_key`` as a router-level dependency (``KEYED``); a
route that needs the key row itself also takes ``key: Key`` (the same, cached, call).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from celery import Celery
from fastapi import Depends, Path, Query, Request, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from alp.config import Settings
from alp.db import ApiKey
from alp.db.tables import MAX_ID
from alp.errors import Forbidden, Unauthorized
from alp.services import keys
from alp.storage import Storage
from api import access
from api.dashboard import session


@dataclass
class AppState:
    settings: Settings
    sessions: sessionmaker
    storage: Storage
    celery: Celery


def state(request: Request) -> AppState:
    return request.app.state.alp


def get_db(request: Request) -> Iterator[Session]:
    db: Session = state(request).sessions()
    try:
        yield db
    finally:
        db.close()


bearer_scheme = HTTPBearer(scheme_name="bearerAuth", description="An API key.", auto_error=False)
cookie_scheme = APIKeyCookie(
    name=session.COOKIE,
    scheme_name="sessionCookie",
    description="The dashboard's sign-in cookie (writes also need X-ALP-CSRF).",
    auto_error=False,
)
Bearer = Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)]
SessionCookie = Annotated[str | None, Security(cookie_scheme)]


def require_key(
    request: Request,
    db: Annotated[Session, Depends(get_db)],
    bearer: Bearer,
    cookie: SessionCookie,
) -> ApiKey:
    """Authenticate by ``Authorization: Bearer <key>`` or the dashboard's session cookie.

    Cookie-authenticated writes must carry the ``X-ALP-CSRF`` header (which a cross-site
    form cannot send), on top of the cookie being ``SameSite=Strict``. Then the key's role
    and pool limit are checked against the route table (``api.access.authorize``).
    """
    if bearer is None:
        secret = state(request).settings.resolved_secret_key()
        row = session.key_for_token(db, secret, cookie)
        if row is None:
            raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
        if request.method not in session.SAFE_METHODS and not request.headers.get(
            session.CSRF_HEADER
        ):
            raise Forbidden(f"cookie-authenticated writes need the {session.CSRF_HEADER} header")
    else:
        row = keys.verify_key(db, bearer.credentials)
        if keys.touch(db, row):
            db.commit()
    access.authorize(request, db, row)
    return row


DB = Annotated[Session, Depends(get_db)]
# Row ids in paths/queries: anything outside the 64-bit key range is refused with a 422
# here, the same on every engine, instead of overflowing inside the database driver.
Id = Annotated[int, Path(ge=1, le=MAX_ID, description="Row id (1 .. 2^63-1).")]
OptionalIdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
IdQuery = Annotated[int, Query(ge=1, le=MAX_ID, description="Row id (1 .. 2^63-1).")]
Key = Annotated[ApiKey, Depends(require_key)]
KEYED = [Depends(require_key)]  # ``APIRouter(dependencies=KEYED)``: every route needs a key
State = Annotated[AppState, Depends(state)]
