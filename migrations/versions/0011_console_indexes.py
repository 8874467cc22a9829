"""The console's calls search by agency on a year of calls: an index on the agency of
the station that called.

The agency filter matches the agency a call went to or the agency of the station that
placed it (`calllog.queries.CallFilter.agency`). `calls.agency` has had its index since
0010; without one on `caller_agency` the OR's count read the whole table (PostgreSQL: a
parallel sequential scan, 165 ms on 450,000 calls; 44 ms with this index, by a
BitmapOr of the two). Measured by `benchmarks/console_scale.py` (docs/benchmarks.md).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_calls_caller_agency_started_at"), "calls",
                    ["caller_agency", "started_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_calls_caller_agency_started_at"), table_name="calls")
