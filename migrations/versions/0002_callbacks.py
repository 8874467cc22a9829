"""Call backs: the caller's agency, voice message, and the call-back queue.

Revision ID: 0002
Revises: 0001
Create Date: 2025-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Only nullable columns and an index: SQLite does this with plain ALTER TABLE.
    with op.batch_alter_table("calls") as batch_op:
        batch_op.add_column(sa.Column("caller_agency", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("recording", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("recording_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("callback", sa.String(16), nullable=True))
        batch_op.add_column(
            sa.Column("callback_done_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("callback_note", sa.Text(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_calls_callback_started_at"), ["callback", "started_at"]
        )


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch_op:
        batch_op.drop_index(batch_op.f("ix_calls_callback_started_at"))
        batch_op.drop_column("callback_note")
        batch_op.drop_column("callback_done_at")
        batch_op.drop_column("callback")
        batch_op.drop_column("recording_seconds")
        batch_op.drop_column("recording")
        batch_op.drop_column("caller_agency")
