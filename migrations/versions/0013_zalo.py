"""The Zalo channel: the OA's token pairs, the webhook inbox, ZNS sends.

`zalo_tokens` holds the OAuth pairs (the refresh token is single-use: `calllog.zalo`
stores a successor in the transaction that retires its predecessor); `zalo_inbox` the
signed webhook events, one row per event key, processed later; `zalo_sends` the ZNS
sends by our tracking id.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    utc = sa.DateTime(timezone=True)
    # SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "zalo_tokens",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("access_token", sa.Text(), nullable=False),
        sa.Column("refresh_token", sa.Text(), nullable=False),
        sa.Column("access_expires_at", utc, nullable=False),
        sa.Column("refresh_expires_at", utc, nullable=False),
        sa.Column("obtained_at", utc, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("refreshing_id", sa.String(36), nullable=True),
        sa.Column("refreshing_since", utc, nullable=True),
        sa.Column("presented_at", utc, nullable=True),
        sa.Column("spent_at", utc, nullable=True),
        sa.Column("replaced_by", big_id, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zalo_tokens")),
    )
    op.create_index(op.f("ix_zalo_tokens_status_id"), "zalo_tokens", ["status", "id"])
    op.create_table(
        "zalo_inbox",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(160), nullable=False),
        sa.Column("event_name", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=True),
        sa.Column("event_at", utc, nullable=False),
        sa.Column("received_at", utc, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("processed_at", utc, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zalo_inbox")),
        sa.UniqueConstraint("key", name=op.f("uq_zalo_inbox_key")),
    )
    op.create_index(op.f("ix_zalo_inbox_status_id"), "zalo_inbox", ["status", "id"])
    op.create_index(op.f("ix_zalo_inbox_user_id_event_name_event_at"), "zalo_inbox",
                    ["user_id", "event_name", "event_at"])
    op.create_table(
        "zalo_sends",
        sa.Column("tracking_id", sa.String(64), nullable=False),
        sa.Column("template_id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("msg_id", sa.String(64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("sent_at", utc, nullable=True),
        sa.PrimaryKeyConstraint("tracking_id", name=op.f("pk_zalo_sends")),
    )


def downgrade() -> None:
    op.drop_table("zalo_sends")
    op.drop_index(op.f("ix_zalo_inbox_user_id_event_name_event_at"), table_name="zalo_inbox")
    op.drop_index(op.f("ix_zalo_inbox_status_id"), table_name="zalo_inbox")
    op.drop_table("zalo_inbox")
    op.drop_index(op.f("ix_zalo_tokens_status_id"), table_name="zalo_tokens")
    op.drop_table("zalo_tokens")
