"""RFC 9457 problem+json: every error leaves the API through ``problem_response``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from flask import g, json, request
from werkzeug.exceptions import HTTPException

from opsloom.platform.errors import OpsloomError

if TYPE_CHECKING:
    from flask import Flask, Response

__all__ = ["flatten_messages", "problem_response", "register_problem_handlers"]

log = logging.getLogger("opsloom.api")

PROBLEM_TYPE = "application/problem+json"

_HTTP_SLUGS = {
    400: "bad-request",
    401: "authentication-required",
    403: "permission-denied",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation",
    429: "rate-limited",
}


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    from flask import current_app

    body.setdefault("instance", request.path)
    rid = g.get("request_id")
    if rid:
        body.setdefault("request_id", rid)
    response = current_app.response_class(
        json.dumps(body), status=body["status"], mimetype=PROBLEM_TYPE
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, str]:
    """Turn webargs/marshmallow ``{"json": {"a": {"b": ["msg"]}}}`` into ``{"a.b": "msg"}``."""
    out: dict[str, str] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            if prefix == "" and key in ("json", "query", "form", "files", "headers", "view_args"):
                out.update(flatten_messages(value, ""))
                continue
            name = f"{prefix}.{key}" if prefix else str(key)
            out.update(flatten_messages(value, name))
    elif isinstance(messages, list):
        if all(isinstance(m, str) for m in messages):
            out[prefix or "_schema"] = " ".join(messages)
        else:
            for i, item in enumerate(messages):
                out.update(flatten_messages(item, f"{prefix}.{i}" if prefix else str(i)))
    else:
        out[prefix or "_schema"] = str(messages)
    return out


def opsloom_error_problem(exc: OpsloomError) -> Response:
    headers = {}
    if exc.status == 429 and "retry_after" in exc.context:
        headers["Retry-After"] = str(int(exc.context["retry_after"]))
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="opsloom"'
    if exc.status >= 500:
        log.error("opsloom error %s (request %s)", exc, g.get("request_id"))
    return problem_response(exc.to_problem(), headers)


def http_error_problem(exc: HTTPException) -> Response:
    status = exc.code or 500
    body: dict[str, Any] = {
        "type": f"/problems/{_HTTP_SLUGS.get(status, 'http-' + str(status))}",
        "title": exc.name,
        "status": status,
        "detail": exc.description or exc.name,
    }
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages")
    if messages:
        errors = flatten_messages(messages)
        body["errors"] = errors
        if status == 400 and any("Invalid JSON" in m for m in errors.values()):
            body["detail"] = "The request body is not valid JSON."
        elif status == 422:
            body["detail"] = "Some fields are invalid: " + "; ".join(
                f"{k}: {v}" for k, v in sorted(errors.items())
            )
    headers = {}
    if status == 405 and getattr(exc, "valid_methods", None):
        headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
    return problem_response(body, headers)


def unexpected_problem(exc: Exception) -> Response:
    rid = g.get("request_id")
    log.exception("unexpected error in %s %s (request %s)", request.method, request.path, rid)
    return problem_response(
        {
            "type": "/problems/internal",
            "title": "Internal error",
            "status": 500,
            "detail": f"Something went wrong on our side. Quote request id {rid} when you report it.",
        }
    )


def register_problem_handlers(app: Flask, api_prefix: str = "/api/") -> None:
    """Errors under the API prefix become problem+json; pages keep their HTML error pages."""

    def is_api() -> bool:
        return request.path.startswith(api_prefix) or request.path.startswith("/hooks/")

    from opsloom.platform.web.errors import html_error  # HTML error pages for the browser

    @app.errorhandler(OpsloomError)
    def _opsloom(exc: OpsloomError) -> Any:
        return opsloom_error_problem(exc) if is_api() else html_error(exc.status, exc.detail)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        if is_api():
            return http_error_problem(exc)
        return html_error(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        if isinstance(exc, HTTPException):
            return _http(exc)
        if is_api():
            return unexpected_problem(exc)
        log.exception("unexpected error in %s %s (request %s)", request.method, request.path,
                      g.get("request_id"))
        return html_error(500, "Something went wrong on our side.")
