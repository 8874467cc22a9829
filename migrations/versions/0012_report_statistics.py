"""The period report's GROUP BY on PostgreSQL: statistics on how few the groups are.

`calllog.period.period_tallies` counts a month's calls by branch, agency, outcome, survey
answer and call back in one GROUP BY of eight columns (121 groups in a month of 150,000
calls). Multiplying the columns' own distinct counts, PostgreSQL expected about 100,000
groups and sorted all the rows on disk (external merge, 290 ms); with these `ndistinct`
statistics it expects 121 and hashes them in memory (130 ms). Measured by
`benchmarks/console_scale.py` (docs/benchmarks.md). SQLite has no such statistics and
plans its GROUP BY the same either way: nothing to do there.

`ANALYZE calls` fills the statistics at once (autovacuum would, after enough changes);
it reads a sample of the table, a second or so on a year of calls.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("branch_key, branch_name, agency, outcome, survey, survey_score, callback, "
           "callback_result")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"CREATE STATISTICS st_calls_report_groups (ndistinct) ON {COLUMNS} FROM calls")
    op.execute("ANALYZE calls")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP STATISTICS IF EXISTS st_calls_report_groups")
