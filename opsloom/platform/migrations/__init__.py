"""The Alembic migrations of the platform and its engines, shipped in the package; ``opsloom db upgrade`` applies them.

Each engine owns its tables and keeps its revisions in ``<engine>/migrations/`` as a
branch (``branch_labels``) that starts from the platform's initial revision, so parts
evolve their tables independently and the platform never imports an engine. The
database is current when it is at every head.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from opsloom.platform.errors import OpsloomError

if TYPE_CHECKING:
    from opsloom.platform.db import Database

__all__ = ["SchemaOutdated", "alembic_config", "check_schema", "current_revision", "head_revision", "upgrade"]

HERE = Path(__file__).parent

#: packages that may ship a ``migrations`` folder of their own (the engines, as in BUILTIN_PLUGINS)
ENGINE_PACKAGES = (
    "opsloom.form_engine",
    "opsloom.flow_engine",
    "opsloom.rule_engine",
    "opsloom.report_engine",
)


def version_locations() -> list[str]:
    """The platform's versions folder plus each installed engine's ``migrations`` folder."""
    folders = [str(HERE / "versions")]
    for name in ENGINE_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        folder = Path(next(iter(spec.submodule_search_locations))) / "migrations"
        if folder.is_dir():
            folders.append(str(folder))
    return folders


class SchemaOutdated(OpsloomError):
    title = "Database schema is outdated"
    slug = "schema-outdated"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(version_locations()).replace("%", "%%"))
    return cfg


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def head_revision() -> str | None:
    """Every head, sorted and joined with ``+`` (one per branch: the platform and each engine)."""
    heads = sorted(_script().get_heads())
    return "+".join(heads) or None


def current_revision(database: Database) -> str | None:
    """The database's heads in the same form as ``head_revision``; None for an empty database."""
    with database.engine.connect() as conn:
        heads = sorted(MigrationContext.configure(conn).get_current_heads())
    return "+".join(heads) or None


def upgrade(database: Database, revision: str = "heads") -> None:
    """Bring the database to ``revision`` using the app's engine (SQLite pragmas included)."""
    cfg = alembic_config(database.url)
    with database.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def check_schema(database: Database) -> None:
    """:raises SchemaOutdated: the database is not at the head revision, naming the fix."""
    current, head = current_revision(database), head_revision()
    if current != head:
        where = "empty" if current is None else f"at revision {current}"
        raise SchemaOutdated(
            f"The database ({database.engine.url.render_as_string(hide_password=True)}) is {where}; "
            f"this opsloom needs revision {head}. Run `opsloom db upgrade` first."
        )
