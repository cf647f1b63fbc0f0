"""A small wrapper over ``label_studio_sdk.LabelStudio`` exposing only what alp needs.

Every SDK/transport failure is translated into ``LabelStudioError`` with a message that
never contains the token, and a ``kind``: ``unreachable`` (connection refused, timeout,
5xx: worth retrying), ``auth`` (401/403 or an invalid/expired token), ``not_found`` (404),
``rejected`` (other 4xx: retrying will not help).

Tokens: a JWT is a personal access token (the SDK exchanges it for short-lived access
tokens and refreshes them); anything else is sent as a legacy ``Token`` header.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import httpx
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

ErrorKind = Literal["unreachable", "auth", "not_found", "rejected"]
T = TypeVar("T")
WEBHOOK_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED",
                   "ANNOTATIONS_DELETED")  # fmt: skip


class LabelStudioError(Exception):
    def __init__(self, kind: ErrorKind, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status

    @property
    def retryable(self) -> bool:
        return self.kind == "unreachable"


def _body_text(body: Any, limit: int = 300) -> str:
    if isinstance(body, Mapping):
        body = body.get("validation_errors") or body.get("detail") or body
    text = body if isinstance(body, str) else json.dumps(body, default=str)
    return text[:limit]


def translate(exc: Exception, what: str) -> LabelStudioError:
    """Map an SDK/httpx exception raised while doing ``what`` to a ``LabelStudioError``."""
    if isinstance(exc, LabelStudioError):
        return exc
    if isinstance(exc, ApiError):
        code = exc.status_code
        detail = _body_text(exc.body)
        if code in (401, 403) or code is None:
            return LabelStudioError(
                "auth", f"Label Studio refused the token while trying to {what}: {detail}", code
            )
        if code == 404:
            return LabelStudioError("not_found", f"{what}: not found in Label Studio", code)
        if code >= 500 or code in (408, 429):
            return LabelStudioError(
                "unreachable", f"Label Studio failed ({code}) to {what}: {detail}", code
            )
        return LabelStudioError(
            "rejected", f"Label Studio rejected {what} ({code}): {detail}", code
        )
    if isinstance(exc, httpx.InvalidURL | UnicodeEncodeError):  # bad URL; non-ASCII token
        return LabelStudioError("rejected", f"cannot {what}: invalid URL or token ({exc})")
    if isinstance(exc, httpx.HTTPError):
        return LabelStudioError(
            "unreachable", f"cannot reach Label Studio to {what}: {type(exc).__name__}"
        )
    raise exc


def _call(what: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except (ApiError, httpx.HTTPError, httpx.InvalidURL, UnicodeEncodeError) as exc:
        raise translate(exc, what) from None


@dataclass(frozen=True)
class Project:
    id: int
    title: str
    label_config: str
    model_version: str | None
    sampling: str | None


def _project(p: Any) -> Project:
    return Project(int(p.id), p.title or "", p.label_config or "", p.model_version, p.sampling)


class LabelStudioClient:
    """One Label Studio server as seen by one token; methods raise ``LabelStudioError``."""

    def __init__(self, url: str, token: str, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        try:
            self.sdk = LabelStudio(base_url=self.url, api_key=token, timeout=timeout, max_retries=0)
        except ApiError as exc:  # an expired / malformed JWT is rejected here
            raise LabelStudioError(
                "auth", f"invalid Label Studio token: {_body_text(exc.body)}"
            ) from None

    def whoami(self) -> dict[str, Any]:
        """The token's user (id, email, permissions); proves reachability and the token."""
        user = _call("identify the token's user", self.sdk.users.whoami)
        return user.model_dump(mode="json")

    def get_project(self, project_id: int) -> Project:
        return _project(
            _call(f"read project {project_id}", lambda: self.sdk.projects.get(id=project_id))
        )

    def create_project(self, title: str, label_config: str, description: str = "") -> Project:
        return _project(
            _call(
                "create a project",
                lambda: self.sdk.projects.create(
                    title=title[:50], label_config=label_config, description=description
                ),
            )
        )

    def update_project(self, project_id: int, **fields: Any) -> None:
        _call(
            f"update project {project_id}",
            lambda: self.sdk.projects.update(id=project_id, **fields),
        )

    def import_tasks(self, project_id: int, tasks: Sequence[Mapping[str, Any]]) -> list[int]:
        """Create ``tasks`` (data + predictions) in one request; their ids, in order."""
        if not tasks:
            return []
        resp = _call(
            f"import {len(tasks)} task(s) into project {project_id}",
            lambda: self.sdk.projects.import_tasks(
                id=project_id, request=list(tasks), return_task_ids=True, commit_to_project=True
            ),
        )
        ids = (resp.model_extra or {}).get("task_ids") or []
        if len(ids) != len(tasks):
            raise LabelStudioError(
                "rejected", f"Label Studio created {len(ids)} of {len(tasks)} task(s)"
            )
        return [int(i) for i in ids]

    def iter_tasks(
        self,
        project_id: int,
        filters: Sequence[Mapping[str, Any]] = (),
        *,
        fields: Literal["all", "task_only"] = "all",
        page_size: int = 500,
    ) -> Iterator[dict[str, Any]]:
        """Tasks of a project matching ALL Data-Manager ``filters`` (as plain dicts).

        With ``fields="all"`` each task carries its ``annotations`` (with ``result``,
        ``was_cancelled``) and ``predictions``.
        """
        query = json.dumps({"filters": {"conjunction": "and", "items": list(filters)}})
        page = 1
        while True:
            try:
                pager = _call(
                    f"list tasks of project {project_id}",
                    lambda p=page: self.sdk.tasks.list(
                        project=project_id, query=query, fields=fields, page=p, page_size=page_size
                    ),
                )
            except LabelStudioError as exc:  # DRF answers 404 for a page past the end
                if exc.kind == "not_found" and page > 1:
                    return
                raise
            rows = pager.items or []
            for row in rows:
                yield row.model_dump(mode="json")
            if len(rows) < page_size:
                return
            page += 1

    def mark_task(self, task_id: int, mark: Mapping[str, Any]) -> bool:
        """Merge ``mark`` into task ``task_id``'s data and meta (the rest of the data, the
        image URL included, is kept); False when the task no longer exists."""
        what = f"mark task {task_id}"
        try:
            task = _call(what, lambda: self.sdk.tasks.get(id=str(task_id))).model_dump(mode="json")
            _call(
                what,
                lambda: self.sdk.tasks.update(
                    id=str(task_id),
                    data={**(task.get("data") or {}), **mark},
                    meta={**(task.get("meta") or {}), **mark},
                ),
            )
        except LabelStudioError as exc:
            if exc.kind == "not_found":
                return False
            raise
        return True

    def create_webhook(self, project_id: int, url: str, headers: Mapping[str, str]) -> int:
        hook = _call(
            "register a webhook",
            lambda: self.sdk.webhooks.create(
                url=url,
                project=project_id,
                headers=dict(headers),
                send_payload=True,
                send_for_all_actions=False,
                actions=list(WEBHOOK_ACTIONS),
                is_active=True,
            ),
        )
        return int(hook.id)

    def delete_webhook(self, webhook_id: int) -> None:
        try:
            _call("delete a webhook", lambda: self.sdk.webhooks.delete(id=webhook_id))
        except LabelStudioError as exc:
            if exc.kind != "not_found":
                raise

    def close(self) -> None:
        client = getattr(self.sdk._client_wrapper.httpx_client, "httpx_client", None)
        if isinstance(client, httpx.Client):
            client.close()
