"""Time is a parameter: the code reads "now" and the monotonic clock only through the
`Clock` the wiring passes in (`hotline.clock.SystemClock` is the one real clock), so
the suite gives the same answers on any date.

Two proofs: the source never calls a clock function itself (read with `ast`), and
the unit suite passes with the machine's calendar moved years ahead (libfaketime,
Debian's `faketime`, installed by `scripts/install-system-deps.sh`).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("routing", "ivr", "calllog", "reports", "hotline", "dialplan", "console", "zalo")
THE_CLOCK = ROOT / "hotline" / "clock.py"
READS_TIME = {
    ("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
    ("time", "time"), ("time", "time_ns"), ("time", "monotonic"), ("time", "monotonic_ns"),
    ("time", "perf_counter"), ("time", "perf_counter_ns"), ("time", "localtime"),
    ("time", "gmtime"), ("time", "ctime"), ("time", "strftime"), ("loop", "time"),
}
"""`owner.attribute` calls that read a clock (`loop.time()`: the event loop's)."""
FAR_AHEAD = "+1825d"
"""Five years: libfaketime's offset for the machine's calendar."""


def _clock_reads(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.id if isinstance(owner, ast.Name) else (
                owner.attr if isinstance(owner, ast.Attribute) else "")
            if (name, node.func.attr) in READS_TIME:
                found.append(f"{path.relative_to(root)}:{node.lineno} {name}.{node.func.attr}()")
        if isinstance(node, ast.ImportFrom) and node.module == "time":
            names = {a.name for a in node.names} & {n for o, n in READS_TIME if o == "time"}
            if names:
                found.append(f"{path.relative_to(root)}:{node.lineno} from time import "
                             f"{', '.join(sorted(names))}")
    return found


def test_no_code_reads_a_clock_except_the_clock_the_wiring_passes_in() -> None:
    sources = [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    assert len(sources) > 40
    reads = [r for p in sources if p != THE_CLOCK for r in _clock_reads(p)]
    assert reads == []


def test_the_scan_spots_a_clock_read(tmp_path: Path) -> None:
    sample = tmp_path / "hotline" / "sample.py"
    sample.parent.mkdir()
    sample.write_text(
        "import time\nfrom datetime import UTC, datetime\nfrom time import monotonic\n"
        "a = datetime.now(UTC)\nb = time.monotonic()\n", encoding="utf-8")
    assert [r.split(" ", 1)[1] for r in _clock_reads(sample, tmp_path)] == [
        "from time import monotonic", "datetime.now()", "time.monotonic()"]


def test_the_unit_suite_passes_five_years_from_now() -> None:
    faketime = shutil.which("faketime")
    if faketime is None:
        pytest.fail("faketime is missing: run scripts/install-system-deps.sh")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    here = f"{Path(__file__).relative_to(ROOT)}"
    done = subprocess.run(
        [faketime, "-f", FAR_AHEAD, sys.executable, "-m", "pytest", "-q", "-x",
         "-p", "no:cacheprovider", "tests/unit", f"--deselect={here}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=540, check=False,
    )
    year = subprocess.run([faketime, "-f", FAR_AHEAD, "date", "+%Y"], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert int(year) >= 2031, "libfaketime did not move the calendar"
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
