"""The ``web`` blueprint object, shared by the page modules that attach their routes to it."""

from __future__ import annotations

from flask import Blueprint

__all__ = ["bp"]

bp = Blueprint("web", __name__)
