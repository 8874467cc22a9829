"""Keep-your-place call-backs (issue 17, item 2): `callback_queue`, one row per call back
the service still has to make: a caller who pressed the key while queued (their place
is `joined_at`), or an operator's request from the console (`desk`: theirs rings first).
The row goes once the call back is made or given up; its result is on the call's row.
No foreign key to `calls`: the service writes the call's row through its journal, which
may reach the database a moment after this row.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    utc = sa.DateTime(timezone=True)
    op.create_table(
        "callback_queue",
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("number", sa.Text(), nullable=False),
        sa.Column("branch", sa.Integer(), nullable=True),
        sa.Column("joined_at", utc, nullable=False),
        sa.Column("desk", sa.String(16), nullable=True),
        sa.Column("requested_by", sa.Text(), nullable=False),
        sa.Column("requested_at", utc, nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_at", utc, nullable=True),
        sa.Column("taken_at", utc, nullable=True),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_callback_queue")),
    )


def downgrade() -> None:
    op.drop_table("callback_queue")
