"""The API base: flask-smorest ``Api`` under ``/api/v1``, problem+json errors, request ids, the edge commit.

Parts build their JSON API as ``flask_smorest.Blueprint`` objects and hand them to
``register_api_blueprint`` (built-ins and plugins alike, through ``opsloom_register_blueprints``).
"""

from __future__ import annotations

from .base import (
    API_PREFIX,
    Api,
    current_actor,
    init_api,
    register_api_blueprint,
    require_admin,
)
from .problems import flatten_messages, problem_response

__all__ = [
    "API_PREFIX",
    "Api",
    "current_actor",
    "flatten_messages",
    "init_api",
    "problem_response",
    "register_api_blueprint",
    "require_admin",
]
