"""Shared set-up of the record benchmarks: a migrated database, an admin with a token, a published entity.

SQLite in a temporary folder by default; ``--database-url`` (a PostgreSQL URL) runs on a
throwaway schema there instead, dropped afterwards.
"""

from __future__ import annotations

import contextlib
import random
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, text

if TYPE_CHECKING:
    from collections.abc import Iterator

    from flask import Flask

CUSTOMER: dict[str, Any] = {
    "key": "customer",
    "title_field": "name",
    "fields": [
        {"key": "name", "type": "text", "required": True, "max_length": 100},
        {"key": "phone", "type": "phone", "unique": True},
        {"key": "level", "type": "select", "options": ["normal", "silver", "gold", "vip"], "default": "normal"},
        {"key": "city", "type": "text", "max_length": 40},
        {"key": "spent", "type": "number"},
        {"key": "owner", "type": "user"},
    ],
    "indexes": [["level", "spent"], ["owner"]],
}
LEVELS = ("normal", "silver", "gold", "vip")
CITIES = ("Shanghai", "Beijing", "Shenzhen", "Hangzhou", "Chengdu")


@dataclass
class Setup:
    app: Flask
    url: str
    headers: dict[str, str]
    user_id: int
    workspace_id: int


def sample_rows(n: int, *, start: int = 0, owners: tuple[int, ...] = (1,), seed: int = 7) -> list[dict[str, Any]]:
    """``n`` customers as JSON input (unique phones)."""
    rnd = random.Random(seed + start)
    return [
        {
            "name": f"Customer {i}",
            "phone": f"13{(i % 9) + 1}{i:08d}"[:11],
            "level": rnd.choice(LEVELS),
            "city": rnd.choice(CITIES),
            "spent": round(rnd.random() * 10000, 2),
            "owner": rnd.choice(owners),
        }
        for i in range(start, start + n)
    ]


@contextlib.contextmanager
def records_setup(database_url: str | None, *, extra_users: int = 0) -> Iterator[Setup]:
    from opsloom import create_app
    from opsloom.platform.auth import service as identity
    from opsloom.platform.db import Database
    from opsloom.platform.migrations import upgrade

    schema = None
    with tempfile.TemporaryDirectory() as tmp:
        if database_url:
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            admin_engine = create_engine(database_url)
            with admin_engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            sep = "&" if "?" in database_url else "?"
            url = f"{database_url}{sep}options=-csearch_path%3D{schema}"
        else:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        try:
            database = Database(url)
            upgrade(database)
            database.dispose()
            app = create_app({"DATABASE_URL": url, "INSTANCE_PATH": tmp, "SECRET_KEY": "bench", "JOBS_MODE": "off",
                              "LOAD_ENTRY_POINTS": False, "PASSWORD_HASH_PROFILE": "fast"})
            with app.extensions["opsloom.db"].session_scope() as session:
                workspace = identity.ensure_workspace(session, key="bench", name="Bench")
                user = identity.create_user(session, username="bench", password="bench-password-1")
                identity.add_member(session, workspace, user, role_keys=["admin"])
                for i in range(extra_users):
                    other = identity.create_user(session, username=f"staff{i}", password="bench-password-1")
                    identity.add_member(session, workspace, other, role_keys=["staff"])
                _row, token = identity.issue_token(session, user=user, workspace=workspace, name="bench")
                user_id, workspace_id = user.id, workspace.id
            headers = {"Authorization": f"Bearer {token}"}
            client = app.test_client()
            assert client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"}, headers=headers).status_code == 201
            assert client.put("/api/v1/apps/crm/entities/customer", json=CUSTOMER, headers=headers).status_code == 200
            published = client.post("/api/v1/apps/crm/entities/customer/publish", json={}, headers=headers)
            assert published.status_code == 200, published.get_json()
            yield Setup(app, url, headers, user_id, workspace_id)
            app.extensions["opsloom.db"].dispose()
        finally:
            if schema:
                with admin_engine.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin_engine.dispose()


def service_for(setup: Setup, session: Any, *, actor: Any = None) -> Any:
    from opsloom.form_engine.service import RecordService
    from opsloom.platform.auth import service as identity
    from opsloom.platform.definitions import service as definitions
    from opsloom.platform.models import User

    if actor is None:
        actor = identity.actor_for(session, session.get(User, setup.user_id), setup.workspace_id, via="cli")
    app = definitions.get_app(session, actor, "crm")
    return RecordService(session, actor, app)
