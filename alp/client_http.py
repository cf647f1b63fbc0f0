"""Transport of :class:`alp.client.Client`: one ``httpx`` session with the API key, retries
with jittered exponential back-off (``Retry-After`` honoured), cursor pagination and
streamed downloads; refusals raise :class:`ApiError` with the server's ``detail``."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Self

import httpx

API_PREFIX = "/api/v1"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
SAFE_RETRY_STATUSES = frozenset({429, 503})  # the server did not act on the request


class ApiError(Exception):
    """The server refused the request (4xx, or 5xx after every retry)."""

    def __init__(self, status: int, detail: str, body: Any = None) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status, self.detail, self.body = status, detail, body


def error_detail(resp: httpx.Response) -> tuple[str, Any]:
    """``(detail, parsed body or None)`` of an error response, for :class:`ApiError`."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:500] or resp.reason_phrase, None
    detail = body.get("detail") if isinstance(body, dict) else None
    return (detail if isinstance(detail, str) else str(detail or body)[:500]), body


class HttpSession:
    """A session with one alp server. ``url`` is the server root (``/api/v1`` is added)."""

    def __init__(
        self, url: str, key: str, *, timeout: float = 120.0, retries: int = 5,
        backoff: float = 0.5, max_backoff: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:  # fmt: skip
        base = url.rstrip("/")
        base = base if base.endswith(API_PREFIX) else base + API_PREFIX
        self.base_url, self.retries, self.backoff, self.max_backoff = (
            base,
            retries,
            backoff,
            max_backoff,
        )
        self._sleep = sleep
        self.http = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {key}"},
            timeout=timeout, transport=transport,
        )  # fmt: skip

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    # -- transport -----------------------------------------------------------------------
    def _delay(self, attempt: int, resp: httpx.Response | None) -> float:
        after = resp.headers.get("retry-after", "") if resp is not None else ""
        if after.replace(".", "", 1).isdigit():
            return min(float(after), self.max_backoff)
        return min(self.max_backoff, self.backoff * 2**attempt) * random.uniform(0.5, 1.0)

    def request(
        self, method: str, path: str, *, ok: Sequence[int] = (200, 201, 202),
        files: Callable[[], Any] | None = None, once: bool = False, **kw: Any,
    ) -> httpx.Response:  # fmt: skip
        """Send with retries; ``files`` is a callable so each attempt gets fresh handles.
        ``once``: the request must not run twice (e.g. start a cycle), so it is retried
        only when it surely did not run: connect errors, 429 and 503.
        Returns the response when its status is in ``ok``, else raises :class:`ApiError`."""
        statuses = SAFE_RETRY_STATUSES if once else RETRY_STATUSES
        for attempt in range(self.retries + 1):
            resp: httpx.Response | None = None
            try:
                resp = self.http.request(method, path, files=files() if files else None, **kw)
            except httpx.TransportError as exc:
                unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if attempt == self.retries or (once and not unsent):
                    raise ApiError(0, f"cannot reach {self.base_url}: {exc}") from exc
            else:
                if resp.status_code in ok:
                    return resp
                if resp.status_code not in statuses or attempt == self.retries:
                    raise ApiError(resp.status_code, *error_detail(resp))
            self._sleep(self._delay(attempt, resp))
        raise AssertionError("unreachable")  # pragma: no cover

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        return self.request(method, path, **kw).json()

    def paginate(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict]:
        """Items of a cursor-paginated listing (``items`` + ``next_cursor``), page by page."""
        params = dict(params or {})
        while True:
            page = self._json("GET", path, params=params)
            yield from page["items"]
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]

    def download(self, path: str, dest: str | Path, params: dict[str, Any] | None = None) -> Path:
        """Stream a response body to ``dest`` (written to ``dest.part``, then renamed)."""
        dest = Path(dest)
        part = dest.with_name(dest.name + ".part")
        for attempt in range(self.retries + 1):
            try:
                with self.http.stream("GET", path, params=params) as resp:
                    if resp.status_code == 200:
                        with part.open("wb") as fh:
                            for chunk in resp.iter_bytes(1 << 20):
                                fh.write(chunk)
                        part.replace(dest)
                        return dest
                    resp.read()
                    if resp.status_code not in RETRY_STATUSES or attempt == self.retries:
                        raise ApiError(resp.status_code, *error_detail(resp))
                    last: httpx.Response | None = resp
            except httpx.TransportError as exc:
                part.unlink(missing_ok=True)
                if attempt == self.retries:
                    raise ApiError(0, f"download from {self.base_url} failed: {exc}") from exc
                last = None
            self._sleep(self._delay(attempt, last))
        raise AssertionError("unreachable")  # pragma: no cover
