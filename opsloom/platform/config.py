"""Settings: defaults, then ``OPSLOOM_*`` environment variables, then the dict given to ``create_app``.

Values from the environment are parsed as JSON when they look like JSON (numbers,
booleans), so ``OPSLOOM_LOGIN_MAX_ATTEMPTS=5`` is an int. The secret key is generated
once and kept in ``instance/secret_key`` when none is given, so sessions survive restarts.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["DEFAULTS", "load_settings"]

PREFIX = "OPSLOOM_"

DEFAULTS: dict[str, Any] = {
    # where the SQLite file, the secret key and uploaded files live
    "INSTANCE_PATH": None,
    # None = SQLite file ``<instance>/opsloom.db``
    "DATABASE_URL": None,
    # None = embedded jobs: a fakeredis-backed RQ queue drained by a thread in the web process
    "REDIS_URL": None,
    # "thread" (embedded worker thread), "external" (``opsloom worker`` processes), "off"
    "JOBS_MODE": None,
    "SECRET_KEY": None,
    "MAX_CONTENT_LENGTH": 10 * 1024 * 1024,
    # where uploaded files are kept (by sha256); None = ``<instance>/uploads``
    "UPLOAD_FOLDER": None,
    # record imports: waiting files and error files; files with more rows run as a background job
    "IMPORT_FOLDER": None,
    "IMPORT_SYNC_MAX_ROWS": 2000,
    "IMPORT_BATCH_SIZE": 500,
    "SESSION_COOKIE_SECURE": False,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "DEFAULT_LOCALE": "en",
    "LOCALES": ["en", "zh_CN"],
    "DEFAULT_TIMEZONE": "Asia/Shanghai",
    # login throttling: failures allowed per window, per account and per address
    "LOGIN_MAX_FAILURES_PER_ACCOUNT": 5,
    "LOGIN_MAX_FAILURES_PER_ADDRESS": 20,
    "LOGIN_WINDOW_SECONDS": 900,
    "TOKEN_DEFAULT_DAYS": 90,
    # events: delivery attempts before an event handler's work is dead-lettered
    "EVENT_MAX_ATTEMPTS": 5,
    "EVENT_BACKOFF_SECONDS": 2.0,
    "PAGE_SIZE_DEFAULT": 50,
    "PAGE_SIZE_MAX": 500,
    # check the database schema revision at start-up
    "CHECK_SCHEMA": True,
    # extra plugin objects registered without entry points (tests, embedding)
    "PLUGINS": [],
    # load third-party plugins from the ``opsloom.plugins`` entry point group
    "LOAD_ENTRY_POINTS": True,
    "TESTING": False,
    # argon2 cost: "standard"; "fast" only for test suites
    "PASSWORD_HASH_PROFILE": "standard",
    # jobs and events tuning (see docs/configuration.md)
    "JOBS_NAMESPACE": "opsloom",
    "EVENT_BACKOFF_MAX_SECONDS": 3600,
    "EVENT_CLAIM_SECONDS": 300,
    "EVENT_DISPATCH_BATCH": 500,
    "EVENT_DELIVERY_BATCH": 250,
    "EVENT_REQUEUE_AFTER_SECONDS": 300,
    "EVENT_RETENTION_DAYS": 7,
    "SCHEDULER_RETENTION_HOURS": 24,
    "LOGIN_ATTEMPT_RETENTION_DAYS": 30,
}


def _parse_env_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Merge defaults, ``OPSLOOM_*`` variables and ``overrides`` (highest wins)."""
    environ = os.environ if environ is None else environ
    settings = dict(DEFAULTS)
    for name, raw in environ.items():
        if name.startswith(PREFIX):
            settings[name[len(PREFIX) :]] = _parse_env_value(raw)
    settings.update(overrides or {})

    instance = Path(settings["INSTANCE_PATH"] or Path.cwd() / "instance").resolve()
    settings["INSTANCE_PATH"] = str(instance)
    if not settings["DATABASE_URL"]:
        settings["DATABASE_URL"] = f"sqlite:///{instance / 'opsloom.db'}"
    settings["UPLOAD_FOLDER"] = str(Path(settings["UPLOAD_FOLDER"] or instance / "uploads").resolve())
    settings["IMPORT_FOLDER"] = str(Path(settings["IMPORT_FOLDER"] or instance / "imports").resolve())
    if not settings["JOBS_MODE"]:
        settings["JOBS_MODE"] = "external" if settings["REDIS_URL"] else "thread"
    if not settings["SECRET_KEY"]:
        settings["SECRET_KEY"] = _instance_secret(instance)
    return settings


def _instance_secret(instance: Path) -> str:
    """Read ``instance/secret_key``, creating it (mode 0600) the first time."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key
