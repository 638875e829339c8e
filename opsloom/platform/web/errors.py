"""HTML error pages for the browser (the API answers problem+json instead)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import render_template
from flask_babel import gettext
from werkzeug.exceptions import default_exceptions

if TYPE_CHECKING:
    from flask import Response

__all__ = ["html_error"]


def _title(status: int) -> str:
    titles = {
        400: gettext("The request could not be used"),
        401: gettext("Please sign in"),
        403: gettext("You may not open this page"),
        404: gettext("Page not found"),
        405: gettext("This action is not allowed here"),
        409: gettext("Conflict"),
        413: gettext("The upload is too large"),
        422: gettext("Some values are invalid"),
        429: gettext("Too many attempts"),
    }
    return titles.get(status, gettext("Something went wrong"))


def _messages(status: int) -> str:
    messages = {
        400: gettext("The browser sent something this page cannot use. Go back and try again."),
        401: gettext("Sign in to continue."),
        403: gettext("Your roles in this workspace do not allow this page. Ask a workspace administrator."),
        404: gettext("There is nothing at this address, or it belongs to another workspace."),
        405: gettext("This page does not accept that kind of request."),
        413: gettext("The upload is larger than this server accepts."),
        429: gettext("Too many attempts in a short time. Wait a moment and try again."),
    }
    return messages.get(status, gettext("Something went wrong on our side. Try again in a moment."))


def html_error(status: int, message: str) -> tuple[str, int] | Response:
    """Render the error page for ``status`` with ``message`` (escaped like every other text).

    Server errors render without the navigation so that a broken database cannot break
    the error page too.
    """
    generic = default_exceptions.get(status)
    if (
        status >= 500
        or not message
        or (generic is not None and message in (generic.description, generic.name))
    ):
        # werkzeug's stock English sentence (or a server error, which must leak nothing):
        # say it in the page's language instead
        message = _messages(status)
    body = render_template(
        "platform/error.html", status=status, title=_title(status), message=message, bare=status >= 500
    )
    return body, status
