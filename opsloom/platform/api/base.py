"""flask-smorest set-up and the request pipeline every API call goes through."""

from __future__ import annotations

import logging
import re
import uuid
from typing import TYPE_CHECKING, Any

import flask_smorest
from flask import current_app, g, request
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import UnsupportedMediaType

from opsloom.platform.db import request_session
from opsloom.platform.errors import AuthenticationRequired, PermissionDenied

from .documents import EXTENSION as DOCUMENTS_EXTENSION
from .documents import WorkspaceDocuments, workspace_documents
from .problems import http_error_problem, problem_response, register_problem_handlers

if TYPE_CHECKING:
    from flask import Flask, Response
    from werkzeug.exceptions import HTTPException

    from opsloom.platform.actor import Actor

__all__ = ["API_PREFIX", "Api", "accepts_files", "current_actor", "init_api", "register_api_blueprint", "require_admin"]

API_PREFIX = "/api/v1"
log = logging.getLogger("opsloom.api")

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# bodies other than JSON are allowed only where a route says so (file uploads)
_BODY_METHODS = {"POST", "PUT", "PATCH"}


class Api(flask_smorest.Api):
    """smorest's Api whose HTTP errors are RFC 9457 problems and whose document depends on the caller.

    ``_openapi_json`` is flask-smorest's view of ``openapi.json`` (bound when the Api is
    made, so overriding it here is enough); the per-workspace parts come from ``documents``.
    """

    def handle_http_exception(self, error: HTTPException) -> Response:  # type: ignore[override]
        return http_error_problem(error)

    def _openapi_json(self) -> Response:
        """``GET /api/v1/openapi.json``: the base document, plus the caller's workspace parts (``documents``).

        The answer depends on who asks, so it is never shared by caches between callers.
        """
        actor = g.get("actor")
        text = None
        if actor is not None and actor.workspace_id is not None:
            documents = workspace_documents(current_app)
            text = documents.text_for(self.spec.to_dict, request_session(), actor)
        if text is None:
            response = super()._openapi_json()
        else:
            response = current_app.response_class(text, mimetype="application/json")
            response.headers["Cache-Control"] = "private, no-cache"
        response.vary.update(("Authorization", "Cookie"))
        return response


def init_api(app: Flask) -> Api:
    app.config.setdefault("API_TITLE", "opsloom")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", API_PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault(
        "API_SPEC_OPTIONS",
        {
            "info": {"description": "The opsloom HTTP API. Errors are RFC 9457 problem+json."},
            "components": {
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
            "security": [{"bearer": []}],
        },
    )
    app.extensions[DOCUMENTS_EXTENSION] = WorkspaceDocuments()
    api = Api(app)
    app.extensions["opsloom.api"] = api
    register_problem_handlers(app, API_PREFIX + "/")
    app.before_request(_assign_request_id)
    app.before_request(_require_json_body)
    app.after_request(_finish_request)
    return api


def register_api_blueprint(app: Flask, blueprint: flask_smorest.Blueprint, url_prefix: str = "") -> None:
    """Mount an API blueprint under ``/api/v1`` and add it to the OpenAPI document."""
    api: Api = app.extensions["opsloom.api"]
    api.register_blueprint(blueprint, url_prefix=API_PREFIX + (url_prefix or blueprint.url_prefix or ""))


def _assign_request_id() -> None:
    incoming = request.headers.get("X-Request-Id", "")
    g.request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex


def _require_json_body() -> None:
    """415 for API writes whose body is not JSON, unless the view accepts uploads."""
    if not request.path.startswith(API_PREFIX + "/") or request.method not in _BODY_METHODS:
        return
    if request.content_length in (None, 0) and not request.data:
        return
    mimetype = request.mimetype or ""
    if mimetype == "application/json" or mimetype.endswith("+json"):
        return
    func = current_app.view_functions.get(request.endpoint or "")
    if getattr(func, "_opsloom_accepts_files", False) and mimetype in (
        "multipart/form-data",
        "text/csv",
        "application/octet-stream",
    ):
        return
    raise UnsupportedMediaType(
        f"Send the body as application/json (got {mimetype or 'no content type'})."
    )


def _finish_request(response: Response) -> Response:
    """Commit the request's session once on success, roll it back otherwise; tag the request id."""
    session = g.pop("_opsloom_session", None)
    if session is not None:
        try:
            if response.status_code < 400 and not g.get("_opsloom_no_commit"):
                session.commit()
            else:
                session.rollback()
        except IntegrityError as exc:
            session.rollback()
            log.warning("commit refused by a constraint (request %s): %s", g.get("request_id"), exc.orig)
            response = problem_response(
                {
                    "type": "/problems/conflict",
                    "title": "Conflict",
                    "status": 409,
                    "detail": "The change conflicts with existing data (a duplicate or a missing reference).",
                }
            )
        finally:
            session.close()
    rid = g.get("request_id")
    if rid:
        response.headers["X-Request-Id"] = rid
    return response


def current_actor() -> Actor:
    """The authenticated actor of this request; :raises AuthenticationRequired: nobody signed in."""
    actor = g.get("actor")
    if actor is None:
        raise AuthenticationRequired(
            "Sign in first: send `Authorization: Bearer <token>` (POST /api/v1/auth/token gives one)."
        )
    return actor


def require_admin() -> Actor:
    """The actor, who must administer the current workspace; :raises PermissionDenied: otherwise."""
    actor = current_actor()
    if not (actor.is_admin or actor.is_superuser):
        raise PermissionDenied("Only workspace administrators may do this.")
    return actor


def accepts_files(func: Any) -> Any:
    """Mark an API view as taking non-JSON bodies (multipart uploads, CSV)."""
    func._opsloom_accepts_files = True
    return func
