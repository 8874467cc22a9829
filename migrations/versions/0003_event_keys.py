"""Event keys: the spool replays its journal after a crash without duplicating events.

Revision ID: 0003
Revises: 0002
Create Date: 2026-01-12
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column and a unique index (not a constraint): SQLite does both without
    # copying the table, and existing rows (key NULL) never conflict.
    with op.batch_alter_table("call_events") as batch_op:
        batch_op.add_column(sa.Column("key", sa.String(80), nullable=True))
        batch_op.create_index(batch_op.f("ix_call_events_key"), ["key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("call_events") as batch_op:
        batch_op.drop_index(batch_op.f("ix_call_events_key"))
        batch_op.drop_column("key")
