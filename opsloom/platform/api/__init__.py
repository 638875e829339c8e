"""The API base: flask-smorest ``Api`` under ``/api/v1``, problem+json errors, request ids, the edge commit.

Parts build their JSON API as ``flask_smorest.Blueprint`` objects and hand them to
``register_api_blueprint`` (built-ins and plugins alike, through ``opsloom_register_blueprints``).
Parts that document routes per workspace (one schema per published entity) register a
document contributor with ``add_document_contributor`` (see ``documents``).
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
from .documents import Contribution, DocumentContributor, add_document_contributor
from .problems import flatten_messages, problem_response

__all__ = [
    "API_PREFIX",
    "Api",
    "Contribution",
    "DocumentContributor",
    "add_document_contributor",
    "current_actor",
    "flatten_messages",
    "init_api",
    "problem_response",
    "register_api_blueprint",
    "require_admin",
]
