"""Connecting a pool to a Label Studio project, and the connection's status read model.

Services take a Session and flush, never commit. ``ClientFactory`` lets tests (and the
worker) choose how a ``LabelStudioClient`` is built from a URL and a token.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from alp import jobs, outbox
from alp.config import Settings
from alp.db import Cycle, LabelStudioConnection, Pool, Selection
from alp.errors import BadGateway, BadRequest, Forbidden, NotFound, Unprocessable
from alp.labelstudio import mapping
from alp.labelstudio.client import LabelStudioClient, LabelStudioError
from alp.labelstudio.schemas import LabelStudioConnect, LabelStudioStatus
from alp.services import pools

log = logging.getLogger("alp.labelstudio")
ClientFactory = Callable[[str, str], LabelStudioClient]
WEBHOOK_PATH = "/api/v1/webhooks/label-studio"
SECRET_HEADER = "X-Alp-Webhook-Secret"
REQUIRED_PERMISSIONS = ("projects.view", "projects.change", "tasks.create", "tasks.view")


def default_client(url: str, token: str) -> LabelStudioClient:
    return LabelStudioClient(url, token)


def get_connection(db: Session, pool_id: int) -> LabelStudioConnection:
    conn = db.get(LabelStudioConnection, pool_id)
    if conn is None:
        pools.get_pool(db, pool_id)
        raise NotFound(f"pool {pool_id} is not connected to Label Studio")
    return conn


def to_http_error(exc: LabelStudioError) -> Exception:
    """A Label Studio failure on a user request -> the alp error the API reports."""
    if exc.kind == "auth":
        return BadRequest(f"{exc.message}; check the token (legacy or personal access token)")
    if exc.kind == "not_found":
        return Unprocessable(exc.message)
    if exc.kind == "rejected":
        return Unprocessable(exc.message)
    return BadGateway(f"{exc.message}; check the URL and that Label Studio is running")


def webhook_url(settings: Settings, pool_id: int) -> str:
    base = settings.public_base_url.rstrip("/")
    return f"{base}{WEBHOOK_PATH}?{urlencode({'pool_id': pool_id})}"


def _check_permissions(user: dict) -> None:
    perms = user.get("permissions")
    if not isinstance(perms, list):  # older servers do not list them: the calls will tell
        return
    missing = [p for p in REQUIRED_PERMISSIONS if p not in perms]
    if missing:
        raise Forbidden(f"the Label Studio token lacks the permissions {missing}")


def _project(client: LabelStudioClient, pool: Pool, project_id: int | None) -> int:
    if project_id is None:
        project = client.create_project(
            f"alp: {pool.name}",
            mapping.label_config(pool.classes),
            description=f"Active-learning pool {pool.id} ({pool.name}) managed by alp.",
        )
        return project.id
    project = client.get_project(project_id)
    problems = mapping.config_problems(project.label_config, pool.classes)
    if problems:
        raise Unprocessable(
            f"Label Studio project {project_id} cannot hold this pool's boxes: "
            + "; ".join(problems)
        )
    return project.id


def connect_pool(
    db: Session,
    settings: Settings,
    pool_id: int,
    body: LabelStudioConnect,
    client_factory: ClientFactory = default_client,
) -> LabelStudioConnection:
    """Check URL, token and permissions, create (or validate) the project, register the
    webhook and store the connection (replacing an earlier one). A webhook that cannot be
    registered is not fatal: it is reported in ``last_error`` and reconciliation polls.
    Raises 400 (bad token), 403 (permissions), 422 (project unusable), 502 (unreachable)."""
    pool = pools.get_pool(db, pool_id)
    try:
        client = client_factory(body.url, body.token)
        _check_permissions(client.whoami())
        project_id = _project(client, pool, body.project_id)
    except LabelStudioError as exc:
        raise to_http_error(exc) from None
    conn = db.get(LabelStudioConnection, pool_id)
    if conn is not None and conn.webhook_id is not None:
        _forget_webhook(client_factory, conn)
    secret = settings.webhook_secret or secrets.token_urlsafe(32)
    webhook_id, error = None, None
    try:
        webhook_id = client.create_webhook(
            project_id, webhook_url(settings, pool_id), {SECRET_HEADER: secret}
        )
    except LabelStudioError as exc:
        error = f"webhook not registered ({exc.message}); relying on periodic reconciliation"
        log.warning("pool %s: %s", pool_id, error)
    if conn is None:
        conn = LabelStudioConnection(pool_id=pool_id, url=body.url, token=body.token,
                                     project_id=project_id)  # fmt: skip
        db.add(conn)
    same_project = conn.url == body.url and conn.project_id == project_id
    conn.url, conn.token, conn.project_id = body.url, body.token, project_id
    conn.webhook_id, conn.webhook_secret = webhook_id, secret
    conn.state, conn.last_error = "connected", error
    if not same_project:
        conn.sync_cursor = None
    db.flush()
    labeling = db.scalar(
        select(Cycle.id).where(Cycle.pool_id == pool_id, Cycle.state == "labeling").limit(1)
    )
    if labeling is not None:  # connected while labeling: push what is selected now
        outbox.enqueue(db, jobs.LS_PUSH, labeling)
    return conn


def _forget_webhook(client_factory: ClientFactory, conn: LabelStudioConnection) -> None:
    if conn.webhook_id is None:
        return
    try:
        client_factory(conn.url, conn.token).delete_webhook(conn.webhook_id)
    except LabelStudioError as exc:  # best effort: the old secret is rotated anyway
        log.info("pool %s: old webhook not deleted: %s", conn.pool_id, exc.message)


def disconnect_pool(
    db: Session, pool_id: int, client_factory: ClientFactory = default_client
) -> None:
    """Forget the connection (the Label Studio project and its tasks are kept)."""
    conn = get_connection(db, pool_id)
    _forget_webhook(client_factory, conn)
    db.delete(conn)
    db.flush()


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL, as browsers send it in ``Origin``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def content_origins(db: Session, settings: Settings) -> set[str]:
    """Origins allowed to load image content cross-origin: ``ALP_CONTENT_CORS_ORIGINS``
    (comma-separated; ``*`` for any) when set, else the connected Label Studio servers'."""
    configured = [o.strip().rstrip("/") for o in settings.content_cors_origins.split(",")]
    if any(configured):
        return {o if o == "*" else origin(o) for o in configured if o}
    return {origin(url) for url in db.scalars(select(LabelStudioConnection.url).distinct())}


def status(db: Session, pool_id: int) -> LabelStudioStatus:
    conn = get_connection(db, pool_id)
    no_boxes = func.sum(case((Selection.ls_boxes == 0, 1), else_=0))
    rows = db.execute(
        select(Selection.ls_outcome, func.count(), func.sum(Selection.ls_boxes), no_boxes)
        .join(Cycle, Cycle.id == Selection.cycle_id)
        .where(Cycle.pool_id == pool_id, Selection.ls_task_id.is_not(None))
        .group_by(Selection.ls_outcome)
    ).all()
    counts = {outcome: n for outcome, n, _, _ in rows}
    pushed = sum(counts.values())
    return LabelStudioStatus(
        pool_id=pool_id,
        url=conn.url,
        project_id=conn.project_id,
        project_url=f"{conn.url}/projects/{conn.project_id}/data",
        state="error" if conn.state == "error" else "connected",
        webhook_registered=conn.webhook_id is not None,
        tasks_pushed=pushed,
        tasks_annotated=counts.get("annotated", 0),
        tasks_skipped=counts.get("skipped", 0),
        tasks_remaining=pushed - counts.get("annotated", 0) - counts.get("skipped", 0),
        boxes_predrawn=sum(int(boxes or 0) for _, _, boxes, _ in rows),
        tasks_without_boxes=sum(int(n or 0) for _, _, _, n in rows),
        last_push_at=conn.last_push_at,
        last_sync_at=conn.last_sync_at,
        last_error=conn.last_error,
        created_at=conn.created_at,
    )


def request_sync(db: Session, pool_id: int, full: bool = True) -> None:
    """Queue a sync of the pool (``full``: ignore the cursor and re-read every task)."""
    get_connection(db, pool_id)
    outbox.enqueue(db, jobs.LS_SYNC, pool_id, full)
