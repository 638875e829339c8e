"""Who is asking: authentication of every request, and the session helpers the sign-in pages use.

API calls authenticate with ``Authorization: Bearer <token>``; browsers with the session
cookie (``user_id``, ``workspace_id`` and the user's ``auth_epoch``: deactivating a user
or changing a password bumps the epoch, which ends every older session). A
cookie-authenticated API write must carry the page's CSRF token in ``X-CSRF-Token``.
The outcome is ``g.user`` (a ``User`` or None) and ``g.actor`` (an ``Actor`` or None).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, NoReturn

from flask import g, request, session
from flask.sessions import NullSession, SecureCookieSession, SecureCookieSessionInterface

from opsloom.platform.api import API_PREFIX
from opsloom.platform.db import request_session, utcnow
from opsloom.platform.errors import AuthenticationRequired, NotFound, PermissionDenied
from opsloom.platform.models import User, Workspace

from . import passwords
from .actors import actor_for
from .csrf import CSRF_HEADER, rotate_csrf, validate_csrf
from .login import keep_failed_attempts
from .tokens import authenticate_bearer
from .workspaces import default_workspace

if TYPE_CHECKING:
    from flask import Flask, Request, Response

    from opsloom.platform.actor import Actor

__all__ = ["current_user", "init_app", "login_user", "logout_user", "switch_workspace"]

log = logging.getLogger("opsloom.auth")

_SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}
_LOGIN_KEYS = ("user_id", "workspace_id", "auth_epoch")
# harmless preferences that outlive a sign-out
_KEEP_ON_LOGOUT = ("locale", "last_workspace_id")


def init_app(app: Flask) -> None:
    """Authenticate every request; keep failed sign-ins recorded even when the request rolls back.

    ``PASSWORD_HASH_PROFILE`` (``standard``; ``fast`` for test suites) sets the argon2 cost.
    """
    passwords.use_profile(app.config.get("PASSWORD_HASH_PROFILE") or "standard")
    app.session_interface = TokenAwareSessionInterface()
    app.before_request(_authenticate)
    # after_request hooks run in reverse order of registration: registered after the API
    # base, this runs before ``_finish_request`` commits or rolls back the request session
    app.after_request(_keep_failed_logins)


class TokenSession(NullSession):
    """The empty, read-only browser session of a request signed with an API token.

    Token calls never carry the session cookie's sign-in, so reading it, verifying its
    signature and writing it back would be wasted work on every API request; a view
    that tries to write it anyway is a bug, and says so.
    """

    def _fail(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise RuntimeError("A request signed with an API token has no browser session to write to.")

    __setitem__ = __delitem__ = clear = pop = popitem = update = setdefault = _fail  # type: ignore[assignment]
    del _fail


class TokenAwareSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, skipped for bearer API calls, with the signer built once per key set."""

    _signers: dict[tuple[Any, ...], Any]

    def __init__(self) -> None:
        self._signers = {}

    def get_signing_serializer(self, app: Flask) -> Any:
        key = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        signer = self._signers.get(key)
        if signer is None:
            signer = self._signers[key] = super().get_signing_serializer(app)
        return signer

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(API_PREFIX + "/") and request.headers.get("Authorization"):
            return TokenSession()
        return super().open_session(app, request)


def _authenticate() -> None:
    g.user = None
    g.actor = None
    is_api = request.path.startswith(API_PREFIX + "/")
    header = request.headers.get("Authorization")
    if is_api and header is not None:
        _authenticate_bearer(header)
        return
    _authenticate_session()
    if (
        is_api
        and g.actor is not None
        and request.method not in _SAFE_METHODS
        and not validate_csrf(request.headers.get(CSRF_HEADER))
    ):
        raise PermissionDenied(
            f"A signed-in browser must send the page's CSRF token in the {CSRF_HEADER} header "
            "(or call the API with `Authorization: Bearer <token>`); nothing was changed."
        )


def _authenticate_bearer(header: str) -> None:
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthenticationRequired("Send `Authorization: Bearer <token>`; other schemes are not accepted.")
    g.actor = authenticate_bearer(
        request_session(),
        value.strip(),
        utcnow(),
        request_id=g.get("request_id"),
        address=request.remote_addr,
    )
    # g.user stays None until asked for: most API views need only the actor (current_user loads it)


def _authenticate_session() -> None:
    user_id = session.get("user_id")
    if user_id is None:
        return
    db = request_session()
    user = db.get(User, user_id) if isinstance(user_id, int) else None
    if user is None or not user.is_active or session.get("auth_epoch") != user.auth_epoch:
        _forget_login()
        return
    actor = None
    workspace_id = session.get("workspace_id")
    if isinstance(workspace_id, int):
        try:
            actor = _session_actor(user, workspace_id)
        except NotFound:
            actor = None
    if actor is None:
        # removed from the workspace of this session: carry on in another one, if any is left
        fallback = default_workspace(db, user)
        if fallback is None:
            _forget_login()
            return
        actor = _session_actor(user, fallback.id)
        session["workspace_id"] = fallback.id
    g.user = user
    g.actor = actor


def _session_actor(user: User, workspace_id: int) -> Actor:
    return actor_for(
        request_session(),
        user,
        workspace_id,
        via="session",
        request_id=g.get("request_id"),
        address=request.remote_addr,
    )


def _forget_login() -> None:
    for key in _LOGIN_KEYS:
        session.pop(key, None)


def _keep_failed_logins(response: Response) -> Response:
    db = g.get("_opsloom_session")
    if db is not None and response.status_code >= 400:
        try:
            if keep_failed_attempts(db):
                db.commit()
        except Exception:
            db.rollback()
            log.exception("could not record failed sign-ins (request %s)", g.get("request_id"))
    return response


def current_user() -> User:
    """The signed-in user; :raises AuthenticationRequired: nobody is signed in.

    Bearer requests authenticate to an actor only; the ``User`` row is loaded here, once
    per request, by the few views that need more than the actor.
    """
    user = g.get("user")
    if user is None:
        actor = g.get("actor")
        if actor is not None and actor.user_id is not None:
            user = request_session().get(User, actor.user_id)
            g.user = user
    if user is None:
        raise AuthenticationRequired("Sign in first.")
    return user


def login_user(user: User, workspace: Workspace | None = None) -> Actor:
    """Start a browser session for ``user`` in ``workspace`` (default: their first); returns the actor.

    Call after ``authenticate_password``. The session is renewed (old keys dropped, a new
    CSRF token) so nothing from before the sign-in carries over.

    :raises NotFound: ``user`` may not act in ``workspace``.
    :raises PermissionDenied: no workspace given and ``user`` belongs to none.
    """
    db = request_session()
    if workspace is None:
        workspace = default_workspace(db, user)
        if workspace is None:
            raise PermissionDenied("Your account does not belong to any workspace yet; ask an administrator.")
    actor = actor_for(
        db, user, workspace, via="session", request_id=g.get("request_id"), address=request.remote_addr
    )
    kept = {key: session[key] for key in _KEEP_ON_LOGOUT if key in session}
    session.clear()
    session.update(kept)
    session["user_id"] = user.id
    session["workspace_id"] = actor.workspace_id
    session["auth_epoch"] = user.auth_epoch
    rotate_csrf()
    g.user = user
    g.actor = actor
    return actor


def logout_user() -> None:
    """End the browser session (language and last workspace are remembered)."""
    kept = {key: session[key] for key in _KEEP_ON_LOGOUT if key in session}
    session.clear()
    session.update(kept)
    rotate_csrf()
    g.user = None
    g.actor = None


def switch_workspace(workspace_id: int) -> Workspace:
    """Act in ``workspace_id`` from now on; returns it.

    :raises AuthenticationRequired: nobody is signed in.
    :raises NotFound: not a workspace of the signed-in user (the same answer as a missing one).
    """
    user = current_user()
    if not isinstance(workspace_id, int) or isinstance(workspace_id, bool):
        raise NotFound(f"There is no workspace {workspace_id!r} of yours.")
    actor = _session_actor(user, workspace_id)
    session["workspace_id"] = actor.workspace_id
    g.actor = actor
    workspace = request_session().get(Workspace, actor.workspace_id)
    assert workspace is not None  # actor_for just found it
    return workspace
