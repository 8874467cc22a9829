"""Desk presence (issue 17, item 3): `desk_presence`, one row per desk that logged in or
out, paused, or took a call.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    utc = sa.DateTime(timezone=True)
    op.create_table(
        "desk_presence",
        sa.Column("extension", sa.String(16), nullable=False),
        sa.Column("logged_in", sa.Boolean(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("pause_reason", sa.String(4), nullable=True),
        sa.Column("wrap_up_until", utc, nullable=True),
        sa.Column("calls_day", sa.Date(), nullable=True),
        sa.Column("calls_today", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_call_ended_at", utc, nullable=True),
        sa.Column("changed_at", utc, nullable=False),
        sa.Column("changed_by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("extension", name=op.f("pk_desk_presence")),
    )


def downgrade() -> None:
    op.drop_table("desk_presence")
