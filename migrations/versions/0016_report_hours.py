"""The period report's tallies kept per UTC hour, and the triggers that keep them honest.

`calllog.rollup` stores what `calllog.period` counts of each UTC hour (calls by group,
histograms of seconds, cases by agency and status; `report_counts`, one JSON text per
hour) so that a month's report reads one row per hour instead of the month's calls.
`report_hours` says which stored hours are still good: these triggers bump an hour's
`version` on every insert, delete, or update of a column the report counts, of `calls`
(by `started_at`) and `cases` (by `opened_at`), old and new hour both when a row moves;
the stored counts are good while `counted = version`. Triggers, not the writers, so
that every writer (the service's store, the spool's replay, the CEL import, recovery,
the console, the CLI, a bulk load) is covered.

Nothing is counted here: hours are counted by the first report that reads them.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME_COLUMN = {"calls": "started_at", "cases": "opened_at"}
COUNTED = {
    "calls": ("started_at", "branch_key", "branch_name", "agency", "outcome", "survey",
              "survey_score", "callback", "callback_result", "callback_attempts",
              "callback_done_at", "bridged_at", "talk_ended_at", "ended_at"),
    "cases": ("opened_at", "agency", "status"),
}
"""The columns whose change changes a tally (`calllog.period` counts these)."""


def upgrade() -> None:
    utc_hour = sa.String(13)
    op.create_table(
        "report_hours",
        sa.Column("hour", utc_hour, nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("counted", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("hour", name=op.f("pk_report_hours")),
    )
    op.create_table(
        "report_counts",
        sa.Column("hour", utc_hour, nullable=False),
        sa.Column("counts", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("hour", name=op.f("pk_report_counts")),
    )
    dialect = op.get_bind().dialect.name
    for table in TIME_COLUMN:
        for statement in (_postgresql_triggers(table) if dialect == "postgresql"
                          else _sqlite_triggers(table)):
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in TIME_COLUMN:
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS tr_{table}_report_hours ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS tr_{table}_report_hours_update ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {table}_report_hours()")
        else:
            for when in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS tr_{table}_report_hours_{when}")
    op.drop_table("report_counts")
    op.drop_table("report_hours")


def _sqlite_triggers(table: str) -> list[str]:
    # SQLite keeps a UTCDateTime as text "YYYY-MM-DD HH:MM:SS.ffffff" (naive UTC)
    column = TIME_COLUMN[table]

    def touch(row: str) -> str:
        return ("INSERT INTO report_hours (hour, version)"
                f" VALUES (substr({row}.{column}, 1, 13), 1)"
                " ON CONFLICT (hour) DO UPDATE SET version = version + 1;")

    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in COUNTED[table])
    return [
        f"CREATE TRIGGER tr_{table}_report_hours_insert AFTER INSERT ON {table}"
        f" BEGIN {touch('NEW')} END",
        f"CREATE TRIGGER tr_{table}_report_hours_delete AFTER DELETE ON {table}"
        f" BEGIN {touch('OLD')} END",
        # both hours, the same one twice when the row stays in its hour: still dirty
        f"CREATE TRIGGER tr_{table}_report_hours_update AFTER UPDATE ON {table}"
        f" WHEN {changed} BEGIN {touch('OLD')} {touch('NEW')} END",
    ]


def _postgresql_triggers(table: str) -> list[str]:
    column = TIME_COLUMN[table]

    def hour(row: str) -> str:
        return f"to_char({row}.{column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24')"

    def touch(row: str) -> str:
        return (f"INSERT INTO report_hours (hour, version) VALUES ({hour(row)}, 1)"
                " ON CONFLICT (hour) DO UPDATE SET version = report_hours.version + 1;")

    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in COUNTED[table])
    return [
        f"""CREATE FUNCTION {table}_report_hours() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        {touch('OLD')}
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND {hour('OLD')} <> {hour('NEW')}) THEN
        {touch('NEW')}
    END IF;
    RETURN NULL;
END
$$""",
        f"CREATE TRIGGER tr_{table}_report_hours AFTER INSERT OR DELETE ON {table}"
        f" FOR EACH ROW EXECUTE FUNCTION {table}_report_hours()",
        f"CREATE TRIGGER tr_{table}_report_hours_update AFTER UPDATE ON {table}"
        f" FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION {table}_report_hours()",
    ]
