"""The load benchmark's harness, on a few calls per flow, so it cannot rot.

Correctness only (every call reached the desk and completed its talk, one
call-log row per hotline call), never timing: `benchmarks.load` measures.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.load_harness import LoadBench

# No skip when SIPp is missing: scripts/install-system-deps.sh installs sip-tester, and a
# machine without it must fail here rather than pass without the benchmark's smoke run.
pytestmark = pytest.mark.e2e

CALLS = 3


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoadBench]:
    workdir: Path = tmp_path_factory.mktemp("load")
    with LoadBench(workdir, keep=True, log=False) as bench:  # closes PBX + service on failure
        yield bench


@pytest.mark.parametrize("flow", ["hotline", "dialplan"])
def test_every_call_reaches_the_desk_and_talks(bench: LoadBench, flow: str) -> None:
    step = bench.run_step(flow, rate=1, seconds=CALLS)

    assert step.placed == CALLS
    assert step.failures == {}
    assert step.succeeded == CALLS
    assert step.channels_left == 0
    assert (step.shed, step.refused) == (0, 0)  # served by the flow under test
    if flow == "hotline":
        deadline = time.monotonic() + 10
        rows = bench.call_log_rows(step.callers)
        while any(n != 1 for n in rows.values()) and time.monotonic() < deadline:
            time.sleep(0.5)
            rows = bench.call_log_rows(step.callers)
        assert rows == dict.fromkeys(step.callers, 1)
