"""Shared parts of the remote commands: credentials, the client, output, errors.

Credentials: ``ALP_URL`` and ``ALP_API_KEY`` win over the file ``alp login`` writes
(``<user config dir>/alp/credentials.json``, mode 0600). With ``--json`` a command prints
exactly one JSON document on stdout (errors too: ``{"error": ..., "status": ...}``) and
human-readable text goes to stderr.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from alp.client import ApiError, Client

err = Console(stderr=True)
out = Console()
JSON_OPT = typer.Option(False, "--json", help="Print one JSON document on stdout (for scripts).")
F = TypeVar("F", bound=Callable[..., Any])


def config_path() -> Path:
    return Path(typer.get_app_dir("alp")) / "credentials.json"


def save_credentials(url: str, key: str) -> Path:
    """Write the credentials file with mode 0600 (created so, never world-readable)."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"url": url, "api_key": key}, fh)
    tmp.replace(path)
    return path


def credentials() -> tuple[str, str]:
    url, key = os.environ.get("ALP_URL"), os.environ.get("ALP_API_KEY")
    if not (url and key) and config_path().is_file():
        saved = json.loads(config_path().read_text())
        url, key = url or saved.get("url"), key or saved.get("api_key")
    if not (url and key):
        raise ApiError(0, "no server configured: run 'alp login' or set ALP_URL and ALP_API_KEY")
    return url, key


def client() -> Client:
    return Client(*credentials())


def emit(as_json: bool, data: Any, human: Callable[[], None]) -> None:
    """``data`` as JSON on stdout with ``--json``, else the human rendering."""
    if as_json:
        sys.stdout.write(json.dumps(data, default=str) + "\n")
        sys.stdout.flush()
    else:
        human()


def handles_errors(fn: F) -> F:
    """Turn :class:`ApiError` and missing files into a message and exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except (ApiError, FileNotFoundError, NotADirectoryError) as exc:
            status = exc.status if isinstance(exc, ApiError) else 0
            message = exc.detail if isinstance(exc, ApiError) else str(exc)
            if kw.get("as_json"):
                emit(True, {"error": message, "status": status}, lambda: None)
            else:
                err.print(f"[red]error:[/red] {escape(message)}")
            raise typer.Exit(1) from exc

    return wrapper  # type: ignore[return-value]
