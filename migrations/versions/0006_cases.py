"""Complaint cases ("phản ánh, kiến nghị"): a case per flagged call or message, and its
append-only history of changes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    utc = sa.DateTime(timezone=True)
    # SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "cases",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(64), nullable=True),
        sa.Column("recording", sa.Text(), nullable=True),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("agency", sa.Text(), nullable=True),
        sa.Column("opened_at", utc, nullable=False),
        sa.Column("opened_by", sa.Text(), nullable=False),
        sa.Column("key", sa.String(80), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.call_id"], name=op.f("fk_cases_call_id_calls")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
    )
    op.create_index(op.f("ix_cases_key"), "cases", ["key"], unique=True)
    op.create_index(op.f("ix_cases_call_id"), "cases", ["call_id"])
    op.create_index(op.f("ix_cases_status_opened_at"), "cases", ["status", "opened_at"])

    op.create_table(
        "case_changes",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("case_id", big_id, nullable=False),
        sa.Column("at", utc, nullable=False),
        sa.Column("by", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("agency", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_changes_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_changes")),
    )
    op.create_index(op.f("ix_case_changes_case_id_id"), "case_changes", ["case_id", "id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_case_changes_case_id_id"), table_name="case_changes")
    op.drop_table("case_changes")
    op.drop_index(op.f("ix_cases_status_opened_at"), table_name="cases")
    op.drop_index(op.f("ix_cases_call_id"), table_name="cases")
    op.drop_index(op.f("ix_cases_key"), table_name="cases")
    op.drop_table("cases")
