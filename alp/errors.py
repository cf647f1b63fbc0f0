"""Domain errors; the API maps each to its HTTP status with ``{"detail": message}``."""

from __future__ import annotations


class AlpError(Exception):
    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(AlpError):
    status_code = 400


class Unauthorized(AlpError):
    status_code = 401


class Forbidden(AlpError):
    status_code = 403


class NotFound(AlpError):
    status_code = 404


class Conflict(AlpError):
    status_code = 409


class PayloadTooLarge(AlpError):
    status_code = 413


class Unprocessable(AlpError):
    status_code = 422


class BadGateway(AlpError):
    """An upstream service (Label Studio) failed or refused."""

    status_code = 502
