"""ZNS notifications, Zalo ratings and survey campaigns (issue 16, items 4 and 5).

`zalo_sends` becomes the ZNS outbox: what each send is about (kind, call, case or
campaign entry), the number it goes to, its template data, when it is next tried and
when Zalo delivered it. `zalo_zns_switches` keeps when each notification was switched on
(nothing older is owed); `zalo_campaigns` and `zalo_campaign_entries` the survey
campaigns; `zalo_ratings` the answers of the rating template (`user_feedback`).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-09
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    utc = sa.DateTime(timezone=True)
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    detail = sa.JSON().with_variant(JSONB(), "postgresql")
    with op.batch_alter_table("zalo_sends") as batch:
        batch.add_column(sa.Column("kind", sa.String(24), nullable=True))
        batch.add_column(sa.Column("phone", sa.String(16), nullable=True))
        batch.add_column(sa.Column("call_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("case_id", big_id, nullable=True))
        batch.add_column(sa.Column("entry_id", big_id, nullable=True))
        batch.add_column(sa.Column("data", detail, nullable=True))
        batch.add_column(sa.Column("max_attempts", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("next_attempt_at", utc, nullable=True))
        batch.add_column(sa.Column("delivered_at", utc, nullable=True))
    op.create_index(op.f("ix_zalo_sends_status_next_attempt_at"), "zalo_sends",
                    ["status", "next_attempt_at"])
    op.create_index(op.f("ix_zalo_sends_case_id"), "zalo_sends", ["case_id"])
    op.create_index(op.f("ix_zalo_sends_entry_id"), "zalo_sends", ["entry_id"])
    op.create_table(
        "zalo_zns_switches",
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("on_since", utc, nullable=False),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_zalo_zns_switches")),
    )
    op.create_table(
        "zalo_campaigns",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("refused", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zalo_campaigns")),
    )
    op.create_table(
        "zalo_campaign_entries",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("campaign_id", big_id, nullable=False),
        sa.Column("phone", sa.String(16), nullable=False),
        sa.Column("procedure", sa.Text(), nullable=False),
        sa.Column("agency", sa.Text(), nullable=False),
        sa.Column("done_on", sa.Date(), nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["zalo_campaigns.id"],
                                name=op.f("fk_zalo_campaign_entries_campaign_id_zalo_campaigns")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zalo_campaign_entries")),
        sa.UniqueConstraint("campaign_id", "phone",
                            name=op.f("uq_zalo_campaign_entries_campaign_id_phone")),
    )
    op.create_index(op.f("ix_zalo_campaign_entries_created_at"), "zalo_campaign_entries",
                    ["created_at"])
    op.create_table(
        "zalo_ratings",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(160), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("rated_at", utc, nullable=False),
        sa.Column("user_id", sa.String(64), nullable=True),
        sa.Column("phone", sa.String(16), nullable=True),
        sa.Column("tracking_id", sa.String(64), nullable=True),
        sa.Column("call_id", sa.String(64), nullable=True),
        sa.Column("case_id", big_id, nullable=True),
        sa.Column("entry_id", big_id, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zalo_ratings")),
        sa.UniqueConstraint("key", name=op.f("uq_zalo_ratings_key")),
    )
    op.create_index(op.f("ix_zalo_ratings_rated_at"), "zalo_ratings", ["rated_at"])
    op.create_index(op.f("ix_zalo_ratings_entry_id"), "zalo_ratings", ["entry_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_zalo_ratings_entry_id"), table_name="zalo_ratings")
    op.drop_index(op.f("ix_zalo_ratings_rated_at"), table_name="zalo_ratings")
    op.drop_table("zalo_ratings")
    op.drop_index(op.f("ix_zalo_campaign_entries_created_at"),
                  table_name="zalo_campaign_entries")
    op.drop_table("zalo_campaign_entries")
    op.drop_table("zalo_campaigns")
    op.drop_table("zalo_zns_switches")
    op.drop_index(op.f("ix_zalo_sends_entry_id"), table_name="zalo_sends")
    op.drop_index(op.f("ix_zalo_sends_case_id"), table_name="zalo_sends")
    op.drop_index(op.f("ix_zalo_sends_status_next_attempt_at"), table_name="zalo_sends")
    with op.batch_alter_table("zalo_sends") as batch:
        for column in ("delivered_at", "next_attempt_at", "max_attempts", "data", "entry_id",
                       "case_id", "call_id", "phone", "kind"):
            batch.drop_column(column)
