"""Reload keys: the spool replays its journal after a crash without recording a config
reload twice.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # As 0003 did for events: a nullable column and a unique index (SQLite adds both
    # without copying the table); existing rows (key NULL) never conflict.
    with op.batch_alter_table("config_reloads") as batch_op:
        batch_op.add_column(sa.Column("key", sa.String(80), nullable=True))
        batch_op.create_index(batch_op.f("ix_config_reloads_key"), ["key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("config_reloads") as batch_op:
        batch_op.drop_index(batch_op.f("ix_config_reloads_key"))
        batch_op.drop_column("key")
