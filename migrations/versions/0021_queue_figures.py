"""The figures of issue 17 (item 7): the queue wait on the call row, and every presence
change of the desks.

- `calls.queue_joined_at`, `queue_left_at`, `queue_result`: written by the call flow
  when the caller leaves a branch's queue; the report counts its waits from them (a
  year of timelines is too slow to read).
- `desk_presence_changes`: each log in/out and pause/resume, for the pause time.
- The report-hour triggers of revision 0016 now also watch the queue columns and
  `desk_answered` (the per-desk figures), and every stored hour is marked stale: its
  counts were made without them, so the next report recounts it.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTED_0016 = ("started_at", "branch_key", "branch_name", "agency", "outcome", "survey",
                "survey_score", "callback", "callback_result", "callback_attempts",
                "callback_done_at", "bridged_at", "talk_ended_at", "ended_at")
COUNTED = (*COUNTED_0016, "desk_answered", "queue_joined_at", "queue_left_at",
           "queue_result")
"""The columns of `calls` whose change changes a tally (`calllog.period` counts these)."""


def upgrade() -> None:
    utc = sa.DateTime(timezone=True)
    op.add_column("calls", sa.Column("queue_joined_at", utc, nullable=True))
    op.add_column("calls", sa.Column("queue_left_at", utc, nullable=True))
    op.add_column("calls", sa.Column("queue_result", sa.String(32), nullable=True))
    op.create_table(
        "desk_presence_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        sa.Column("extension", sa.String(16), nullable=False),
        sa.Column("at", utc, nullable=False),
        sa.Column("logged_in", sa.Boolean(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("pause_reason", sa.String(4), nullable=True),
        sa.Column("by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_presence_changes")),
    )
    op.create_index(op.f("ix_desk_presence_changes_at"), "desk_presence_changes", ["at"])
    _replace_call_triggers(COUNTED)
    op.execute("UPDATE report_hours SET counted = NULL")


def downgrade() -> None:
    # The update trigger names the columns: replaced first (a SQLite table copy of
    # batch mode would drop every trigger of `calls`, so plain DROP COLUMN, 3.35+)
    _replace_call_triggers(COUNTED_0016)
    for column in ("queue_result", "queue_left_at", "queue_joined_at"):
        op.drop_column("calls", column)
    op.execute("UPDATE report_hours SET counted = NULL")
    op.drop_index(op.f("ix_desk_presence_changes_at"), table_name="desk_presence_changes")
    op.drop_table("desk_presence_changes")


def _replace_call_triggers(counted: Sequence[str]) -> None:
    """Revision 0016's triggers on `calls`, watching `counted`."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS tr_calls_report_hours_update ON calls")
        changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in counted)
        op.execute("CREATE TRIGGER tr_calls_report_hours_update AFTER UPDATE ON calls"
                   f" FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION calls_report_hours()")
        return
    op.execute("DROP TRIGGER IF EXISTS tr_calls_report_hours_update")

    def touch(row: str) -> str:
        return ("INSERT INTO report_hours (hour, version)"
                f" VALUES (substr({row}.started_at, 1, 13), 1)"
                " ON CONFLICT (hour) DO UPDATE SET version = version + 1;")

    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in counted)
    op.execute("CREATE TRIGGER tr_calls_report_hours_update AFTER UPDATE ON calls"
               f" WHEN {changed} BEGIN {touch('OLD')} {touch('NEW')} END")
