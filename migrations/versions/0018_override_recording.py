"""The announcement override's switches (issue 17, item 5): `announcements`, one row per
switch on or off, the newest in force. Quality-review recordings need no table: their
name follows from the call, and the timeline names them.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    utc = sa.DateTime(timezone=True)
    op.create_table(
        "announcements",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        sa.Column("at", utc, nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
        sa.Column("on", sa.Boolean(), nullable=False),
        sa.Column("mode", sa.String(16), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("media", sa.String(128), nullable=True),
        sa.Column("until", utc, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_announcements")),
    )


def downgrade() -> None:
    op.drop_table("announcements")
