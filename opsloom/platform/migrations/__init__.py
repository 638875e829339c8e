"""The platform's Alembic migrations, shipped in the package; ``opsloom db upgrade`` applies them."""

from __future__ import annotations

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


class SchemaOutdated(OpsloomError):
    title = "Database schema is outdated"
    slug = "schema-outdated"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory(str(HERE)).get_current_head()


def current_revision(database: Database) -> str | None:
    with database.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(database: Database, revision: str = "head") -> None:
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
