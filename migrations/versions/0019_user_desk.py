"""A console user's desk (issue 17, item 4): `console_users.desk`, the desk extension the
user works at (at most one user per desk), so the console shows them the call their
desk answers.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("console_users", sa.Column("desk", sa.String(16), nullable=True))
    op.create_index(op.f("ix_console_users_desk"), "console_users", ["desk"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_console_users_desk"), table_name="console_users")
    with op.batch_alter_table("console_users") as batch:
        batch.drop_column("desk")
