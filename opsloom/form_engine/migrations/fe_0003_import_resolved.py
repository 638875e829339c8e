"""import runs keep the names they resolved

Revision ID: fe_0003
Revises: fe_0002
Create Date: 2026-11-24 09:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision = "fe_0003"
down_revision = "fe_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # nullable: runs logged before this revision never recorded their resolutions (the API shows them as {})
    with op.batch_alter_table("import_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "resolved",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("import_runs", schema=None) as batch_op:
        batch_op.drop_column("resolved")
