"""The plugin contract of opsloom: hook markers and hook specifications.

Third-party packages declare an entry point in the group ``opsloom.plugins`` whose
object carries ``@hookimpl`` functions named after the specs in ``hookspecs``.
"""

from __future__ import annotations

from .hookspecs import ENTRY_POINT_GROUP, PROJECT, hookimpl, hookspec

__all__ = ["ENTRY_POINT_GROUP", "PROJECT", "hookimpl", "hookspec"]
