"""The platform's pages as one blueprint (mounted by ``opsloom.platform.builtin``).

The routes live in small modules by subject; importing them here attaches them to ``bp``:
``pages`` (home, sign-in, workspace and language switches, app overview, API reference),
``admin_identity`` (users, roles, departments, API tokens) and ``admin_system`` (audit
log, job monitor, plugins).
"""

from __future__ import annotations

from . import admin_identity, admin_system, pages
from .blueprint import bp

__all__ = ["admin_identity", "admin_system", "bp", "pages"]
