"""What revision 0014's triggers cost the write path: 10,000 call saves with and without.

    .venv/bin/python -m benchmarks.report_triggers                 # SQLite and PostgreSQL
    .venv/bin/python -m benchmarks.report_triggers --backend sqlite --saves 2000

On a fresh database (a temp SQLite file; a throw-away PostgreSQL cluster from
`tests/pg.py`) holding `--calls` calls over ten hours, times `--saves` saves through
`CallLogStore.save` (one transaction each, as the service writes a call's milestones),
each changing a column the report counts (the outcome and end), at revision 0015 (the
one before the triggers) and at head (the triggers bump the hour's version), twice in turn: 0015,
head, 0015, head. Prints the mean and p95 of one save in milliseconds; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from calllog.db import downgrade_async, make_engine, make_sessionmaker, upgrade_async
from calllog.model import CallRecord, Outcome
from calllog.store import CallLogStore

BEFORE_TRIGGERS = "0015"
"""The revision before the report tallies' triggers (0016)."""

T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)


async def run(url: str, calls: int, saves: int) -> list[tuple[str, float, float]]:
    await upgrade_async(url, BEFORE_TRIGGERS)
    engine = make_engine(url)
    store = CallLogStore(make_sessionmaker(engine))
    spread = timedelta(hours=10) / calls
    records = [CallRecord(call_id=f"bench-{i}", caller_number=f"09{i:08}",
                          started_at=T0 + i * spread, branch_key=1 + i % 9)
               for i in range(calls)]
    for i in range(0, calls, 1000):
        await store.apply(records[i:i + 1000])
    results = []
    try:
        for phase, revision in enumerate((BEFORE_TRIGGERS, "head", BEFORE_TRIGGERS, "head")):
            if phase:
                await engine.dispose()
                await (upgrade_async(url) if revision == "head"
                       else downgrade_async(url, revision))
            samples = []
            for i in range(saves):
                record = records[i % calls]
                changed = replace(record, outcome=list(Outcome)[(i + phase) % len(Outcome)],
                                  ended_at=record.started_at + timedelta(seconds=30 + i % 600))
                began = time.perf_counter()
                await store.save(changed)
                samples.append((time.perf_counter() - began) * 1000)
            samples.sort()
            results.append((f"at {revision}", sum(samples) / len(samples),
                            samples[math.ceil(0.95 * len(samples)) - 1]))
    finally:
        await engine.dispose()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", action="append", choices=("sqlite", "postgresql"))
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--saves", type=int, default=10_000)
    args = parser.parse_args(argv)
    for backend in args.backend or ["sqlite", "postgresql"]:
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite+aiosqlite:///{Path(tmp) / 'writes.db'}"
                results = asyncio.run(run(url, args.calls, args.saves))
        else:
            from tests.pg import StoppablePostgres, pg_bindir

            cluster = StoppablePostgres(pg_bindir())
            try:
                cluster.start()
                results = asyncio.run(run(cluster.url, args.calls, args.saves))
            finally:
                cluster.destroy()
        print(f"\n{backend}: {args.saves:,} saves, one transaction each")
        print(f"{'revision':10} {'mean ms':>8} {'p95 ms':>8}")
        for name, mean, p95 in results:
            print(f"{name:10} {mean:8.2f} {p95:8.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
