"""drop the unused index on outbox_events.workspace_id

Revision ID: 0003_outbox_workspace_index
Revises: 0002_definitions_version
Create Date: 2026-11-23 18:05:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0003_outbox_workspace_index"
down_revision = "0002_definitions_version"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_events_workspace_id"))


def downgrade() -> None:
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_events_workspace_id"), ["workspace_id"], unique=False)
