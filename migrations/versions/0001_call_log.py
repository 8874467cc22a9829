"""Call log: one row per call, plus its event timeline.

Revision ID: 0001
Revises:
Create Date: 2025-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    utc = sa.DateTime(timezone=True)
    op.create_table(
        "calls",
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("caller_number", sa.Text(), nullable=False),
        sa.Column("caller_name", sa.Text(), server_default="", nullable=False),
        sa.Column("started_at", utc, nullable=False),
        sa.Column("answered_at", utc, nullable=True),
        sa.Column("ended_at", utc, nullable=True),
        sa.Column("branch_key", sa.Integer(), nullable=True),
        sa.Column("branch_name", sa.Text(), nullable=True),
        sa.Column("agency", sa.Text(), nullable=True),
        sa.Column("desk_dialled", sa.Text(), nullable=True),
        sa.Column("desk_answered", sa.Text(), nullable=True),
        sa.Column("bridged_at", utc, nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("hangup_cause", sa.Integer(), nullable=True),
        sa.Column("hangup_cause_txt", sa.Text(), nullable=True),
        sa.Column("hangup_by", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_calls")),
    )
    op.create_index(op.f("ix_calls_started_at"), "calls", ["started_at"])

    op.create_table(
        "call_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("at", utc, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.call_id"], name=op.f("fk_call_events_call_id_calls")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_events")),
    )
    op.create_index(op.f("ix_call_events_call_id_id"), "call_events", ["call_id", "id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_call_events_call_id_id"), table_name="call_events")
    op.drop_table("call_events")
    op.drop_index(op.f("ix_calls_started_at"), table_name="calls")
    op.drop_table("calls")
