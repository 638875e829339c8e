"""Identity, tenancy and authentication: who is asking, and in which workspace.

Faces of this area:

- ``init_app`` authenticates every request (bearer token or session cookie) into
  ``g.user``/``g.actor``; ``login_user``, ``logout_user``, ``switch_workspace`` and
  ``current_user`` are the session helpers for the sign-in pages;
- ``csrf_token``/``validate_csrf`` protect cookie-authenticated writes;
- ``auth.service`` holds the identity services (workspaces, users and members, roles,
  departments, API tokens, password sign-in), ``auth.api`` the JSON API and
  ``auth.commands`` the ``opsloom init``/``user create``/``token create`` commands.
"""

from __future__ import annotations

from .csrf import CSRF_HEADER, csrf_token, validate_csrf
from .edge import current_user, init_app, login_user, logout_user, switch_workspace

__all__ = [
    "CSRF_HEADER",
    "csrf_token",
    "current_user",
    "init_app",
    "login_user",
    "logout_user",
    "switch_workspace",
    "validate_csrf",
]
