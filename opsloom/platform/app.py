"""The app factory: a readable list of ``init_app`` calls, nothing done at import time."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask

from . import auth, jobs, web
from .api import init_api, register_api_blueprint
from .config import load_settings
from .db import Database
from .fastjson import FastJSONProvider
from .logs import init_logging
from .migrations import check_schema
from .plugin_host import PluginHost

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["create_app"]

log = logging.getLogger("opsloom")

HERE = Path(__file__).parent


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build an opsloom app from defaults, ``OPSLOOM_*`` variables and ``config`` (highest wins).

    :raises SchemaOutdated: the database is behind the code; run ``opsloom db upgrade``.
    """
    settings = load_settings(config)
    Path(settings["INSTANCE_PATH"]).mkdir(parents=True, exist_ok=True)
    app = Flask(
        "opsloom",
        instance_path=settings["INSTANCE_PATH"],
        root_path=str(HERE),
        static_folder="static",
        template_folder="templates",
    )
    app.config.update(settings)
    app.json = FastJSONProvider(app)
    init_logging(app)

    database = Database(settings["DATABASE_URL"])
    database.init_app(app)
    if settings["CHECK_SCHEMA"]:
        check_schema(database)

    host = PluginHost()
    host.load(settings["PLUGINS"], entry_point_plugins=settings["LOAD_ENTRY_POINTS"])
    app.extensions["opsloom.plugins"] = host

    init_api(app)
    auth.init_app(app)
    web.init_app(app)
    jobs.init_app(app)
    _mount_blueprints(app, host)
    host.registries.freeze()
    return app


def _mount_blueprints(app: Flask, host: PluginHost) -> None:
    """API blueprints (flask-smorest) go under ``/api/v1``; page blueprints mount as they are."""
    import flask_smorest

    for owner, blueprint in host.blueprints():
        try:
            if isinstance(blueprint, flask_smorest.Blueprint):
                register_api_blueprint(app, blueprint)
            else:
                app.register_blueprint(blueprint)
        except Exception:
            log.exception("plugin %s offered a blueprint that could not be mounted", owner)
            if owner.startswith("opsloom."):
                raise
