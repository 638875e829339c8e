"""opsloom: a metadata-driven platform for customer operations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "create_app"]

if TYPE_CHECKING:
    from collections.abc import Mapping

    from flask import Flask


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the opsloom Flask application (see ``opsloom.platform.app``)."""
    from opsloom.platform.app import create_app as _create_app

    return _create_app(config)
