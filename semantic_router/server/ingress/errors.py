"""OpenAI-style error bodies: `{"error": {"message", "type", "param", "code"}}`, and the exception carrying one."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

__all__ = ["APIError", "error_body", "error_response"]

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
          404: "invalid_request_error", 405: "invalid_request_error", 413: "invalid_request_error",
          415: "invalid_request_error", 422: "invalid_request_error", 429: "rate_limit_error",
          502: "upstream_error", 503: "service_unavailable", 504: "upstream_error"}


class APIError(Exception):
    """An error answered to the client with `status` and an OpenAI-style body."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 type_: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.headers = headers  # extra response headers (e.g. `Retry-After` on a 429)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type_ or _TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")


def _text(value: str | None) -> str | None:
    """Text that encodes as UTF-8 whatever a client put in it (a lone surrogate becomes `\\ud800`)."""
    return None if value is None else value.encode("utf-8", "backslashreplace").decode("utf-8")


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": _text(message), "type": type_, "param": _text(param), "code": code}}


def error_response(exc: APIError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(exc.message, exc.type, exc.param, exc.code), status_code=exc.status,
                        headers=headers)
