"""Service errors shown in forms, in the page's language.

Services explain refusals in English (the API's language) with short per-field reasons
such as ``"already taken"``. Forms show the reasons the platform knows in the reader's
language and fall back to the service's own words for the rest, so nothing is lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask_babel import gettext

from opsloom.platform.auth.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

if TYPE_CHECKING:
    from opsloom.platform.errors import OpsloomError

__all__ = ["form_errors", "translate_reason"]


def _known_reasons() -> dict[str, str]:
    return {
        "already taken": gettext("This is already taken; choose another."),
        "already a member": gettext("This user is already a member of the workspace."),
        "no such user": gettext("There is no such user; give a password to create one."),
        "not an e-mail address": gettext("This is not an e-mail address."),
        "unknown department": gettext("Choose a department of this workspace."),
        "must be an id": gettext("Choose an entry from the list."),
        "must be a user id": gettext("Choose a member from the list."),
        "not an active member": gettext("The head must be an active member of this workspace."),
        "would create a cycle": gettext(
            "A department cannot be moved under itself or one of its sub-departments."
        ),
        "last administrator": gettext("The workspace would have no administrator left."),
        "admin role keeps it": gettext("The admin role always administers the workspace."),
        "admin role is permanent": gettext("The admin role cannot be deleted."),
        "not empty": gettext("Move its sub-departments and members elsewhere first."),
        "in use": gettext("Members still hold this role; take it from them first."),
        "shared with other workspaces": gettext(
            "This user also belongs to other workspaces; only they may change it."
        ),
        "required": gettext("This field is required."),
        # the password policy (``auth.passwords.check_policy``) and who may set a password
        f"must be at least {MIN_PASSWORD_LENGTH} characters long": gettext(
            "Use at least %(count)s characters.", count=MIN_PASSWORD_LENGTH
        ),
        f"must be at most {MAX_PASSWORD_LENGTH} characters long": gettext(
            "Use at most %(count)s characters.", count=MAX_PASSWORD_LENGTH
        ),
        "must not be only spaces": gettext("A password of only spaces is not allowed."),
        "must not be the same as the username": gettext("The password must differ from the username."),
        "superuser": gettext(
            "This user is a platform superuser; only another superuser may set their password."
        ),
        "your own password": gettext(
            "This is your own account: change your password with your current one instead."
        ),
    }


def translate_reason(reason: str) -> str:
    """The reader's-language text for a service's field reason (the reason itself when unknown)."""
    known = _known_reasons()
    if reason in known:
        return known[reason]
    if reason.startswith("unknown role"):
        return gettext("Unknown role: %(roles)s", roles=reason.removeprefix("unknown role").strip())
    return reason


def form_errors(exc: OpsloomError) -> dict[str, str]:
    """Field name -> message for a form; ``_form`` holds the whole sentence when no field is named."""
    errors = {name: translate_reason(str(reason)) for name, reason in exc.errors.items()}
    if not errors:
        errors["_form"] = exc.detail
    else:
        errors.setdefault("_form", exc.detail)
    return errors
