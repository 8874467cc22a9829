"""The console's queries: call-back results, case codes and deadlines, search indexes.

- calls: who called back, the result and how many attempts (`calllog.followup`), and
  indexes for searching a year of calls by number, branch, agency and outcome.
- callback_attempts: every call back made, with its result and note.
- cases: a code a citizen can be told (PA-<year>-<number>, numbered per year in
  `case_codes`) and a deadline; existing cases get their codes here, in the order they
  were opened (their deadline stays unknown: the YAML's calendar is not read here).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CODE_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


def upgrade() -> None:
    utc = sa.DateTime(timezone=True)
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    with op.batch_alter_table("calls") as batch_op:
        batch_op.add_column(sa.Column("callback_by", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("callback_result", sa.String(16), nullable=True))
        batch_op.add_column(sa.Column("callback_attempts", sa.Integer(), server_default="0",
                                      nullable=False))
        batch_op.add_column(sa.Column("callback_last_at", utc, nullable=True))
    op.create_index(op.f("ix_calls_caller_number_started_at"), "calls",
                    ["caller_number", "started_at"],
                    postgresql_ops={"caller_number": "text_pattern_ops"})
    op.create_index(op.f("ix_calls_branch_key_started_at"), "calls", ["branch_key", "started_at"])
    op.create_index(op.f("ix_calls_agency_started_at"), "calls", ["agency", "started_at"])
    op.create_index(op.f("ix_calls_outcome_started_at"), "calls", ["outcome", "started_at"])
    op.create_index(op.f("ix_calls_callback_callback_done_at"), "calls",
                    ["callback", "callback_done_at"])

    op.create_table(
        "callback_attempts",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("at", utc, nullable=False),
        sa.Column("by", sa.Text(), nullable=False),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["calls.call_id"],
                                name=op.f("fk_callback_attempts_call_id_calls")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_attempts")),
    )
    op.create_index(op.f("ix_callback_attempts_call_id_id"), "callback_attempts",
                    ["call_id", "id"])
    op.create_index(op.f("ix_callback_attempts_at"), "callback_attempts", ["at"])

    op.create_table(
        "case_codes",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_case_codes")),
    )
    with op.batch_alter_table("cases") as batch_op:
        batch_op.add_column(sa.Column("code", sa.String(24), nullable=True))
        batch_op.add_column(sa.Column("due_at", utc, nullable=True))
        batch_op.create_index(batch_op.f("ix_cases_code"), ["code"], unique=True)
        batch_op.create_index(batch_op.f("ix_cases_agency_status_opened_at"),
                              ["agency", "status", "opened_at"])
        batch_op.create_index(batch_op.f("ix_cases_status_due_at"), ["status", "due_at"])
    _backfill_codes()


def _backfill_codes() -> None:
    """Number the existing cases per year of opening (local time), oldest first."""
    bind = op.get_bind()
    cases = sa.table("cases", sa.column("id", sa.BigInteger()),
                     sa.column("opened_at", sa.DateTime(timezone=True)),
                     sa.column("code", sa.String()))
    codes = sa.table("case_codes", sa.column("year", sa.Integer()),
                     sa.column("last", sa.Integer()))
    rows = bind.execute(sa.select(cases.c.id, cases.c.opened_at)
                        .order_by(cases.c.opened_at, cases.c.id)).all()
    last: dict[int, int] = defaultdict(int)
    for case_id, opened_at in rows:
        if isinstance(opened_at, str):  # SQLite without a declared type on read
            opened_at = datetime.fromisoformat(opened_at)
        if opened_at.tzinfo is None:
            opened_at = opened_at.replace(tzinfo=UTC)
        year = opened_at.astimezone(CODE_ZONE).year
        last[year] += 1
        bind.execute(sa.update(cases).where(cases.c.id == case_id)
                     .values(code=f"PA-{year}-{last[year]:05d}"))
    if last:
        bind.execute(sa.insert(codes), [{"year": y, "last": n} for y, n in sorted(last.items())])


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_status_due_at"))
        batch_op.drop_index(batch_op.f("ix_cases_agency_status_opened_at"))
        batch_op.drop_index(batch_op.f("ix_cases_code"))
        batch_op.drop_column("due_at")
        batch_op.drop_column("code")
    op.drop_table("case_codes")
    op.drop_index(op.f("ix_callback_attempts_at"), table_name="callback_attempts")
    op.drop_index(op.f("ix_callback_attempts_call_id_id"), table_name="callback_attempts")
    op.drop_table("callback_attempts")
    for name in ("callback_callback_done_at", "outcome_started_at", "agency_started_at",
                 "branch_key_started_at", "caller_number_started_at"):
        op.drop_index(op.f(f"ix_calls_{name}"), table_name="calls")
    with op.batch_alter_table("calls") as batch_op:
        batch_op.drop_column("callback_last_at")
        batch_op.drop_column("callback_attempts")
        batch_op.drop_column("callback_result")
        batch_op.drop_column("callback_by")
