"""Zalo messages become cases: a case's channel and citizen, the OA's followers, and
each case's conversation.

`cases` gets `channel` (`phone` for every existing row, `zalo`), the follower's Zalo id
(`zalo_user_id`: a Zalo case's sender, or the follower a phone case was linked to),
`citizen_name` and `citizen_phone` where known. `zalo_followers` holds one row per
follower (follow state, name and phone when they gave them, their last message: the
48-hour window). `zalo_messages` is the conversation: messages in (text, image, file:
the attachment's URL and name, never downloaded) and replies out (who, sent / failed /
refused and why), one row per `key`, so an event handled twice is stored once.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-09
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    utc = sa.DateTime(timezone=True)
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    with op.batch_alter_table("cases") as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(16), server_default="phone",
                                      nullable=False))
        batch_op.add_column(sa.Column("zalo_user_id", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("citizen_name", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("citizen_phone", sa.String(32), nullable=True))
        batch_op.create_index(batch_op.f("ix_cases_channel_opened_at"),
                              ["channel", "opened_at"])
        batch_op.create_index(batch_op.f("ix_cases_zalo_user_id_status"),
                              ["zalo_user_id", "status"])
    op.create_table(
        "zalo_followers",
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("following", sa.Boolean(), nullable=False),
        sa.Column("followed_at", utc, nullable=True),
        sa.Column("unfollowed_at", utc, nullable=True),
        sa.Column("last_message_at", utc, nullable=True),
        sa.Column("updated_at", utc, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_zalo_followers")),
    )
    op.create_index(op.f("ix_zalo_followers_phone"), "zalo_followers", ["phone"])
    op.create_table(
        "zalo_messages",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(160), nullable=False),
        sa.Column("case_id", big_id, nullable=True),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), server_default="", nullable=False),
        sa.Column("attachment_url", sa.Text(), nullable=True),
        sa.Column("attachment_name", sa.Text(), nullable=True),
        sa.Column("at", utc, nullable=False),
        sa.Column("sent_by", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("msg_id", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"],
                                name=op.f("fk_zalo_messages_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zalo_messages")),
        sa.UniqueConstraint("key", name=op.f("uq_zalo_messages_key")),
    )
    op.create_index(op.f("ix_zalo_messages_case_id_id"), "zalo_messages", ["case_id", "id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_zalo_messages_case_id_id"), table_name="zalo_messages")
    op.drop_table("zalo_messages")
    op.drop_index(op.f("ix_zalo_followers_phone"), table_name="zalo_followers")
    op.drop_table("zalo_followers")
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_zalo_user_id_status"))
        batch_op.drop_index(batch_op.f("ix_cases_channel_opened_at"))
        batch_op.drop_column("citizen_phone")
        batch_op.drop_column("citizen_name")
        batch_op.drop_column("zalo_user_id")
        batch_op.drop_column("channel")
