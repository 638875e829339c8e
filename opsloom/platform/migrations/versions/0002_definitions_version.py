"""workspaces.definitions_version

Revision ID: 0002_definitions_version
Revises: 0001_initial
Create Date: 2026-11-23 17:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_definitions_version"
down_revision = "0001_initial"
branch_labels = ("platform",)
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.add_column(sa.Column("definitions_version", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_column("definitions_version")
