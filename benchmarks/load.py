"""Capacity benchmark (issue 7): the hotline service vs the generated fallback
dialplan IVR, same PBX, menu and desk, driven by SIPp.

Each call: answer, 1.4 s prompt, one RFC 4733 digit (a real pcap), the desk
rings 1 s and answers, 3 s of talk, the caller hangs up. A call succeeds only
if the desk got it, answered, and had its full 3 s before the caller's BYE/200.

For each flow the call rate is ramped (stopping at the first step with a failed,
shed or refused call) and reported: the highest rate with zero failures, CPU ms
per call (Asterisk, our service), DTMF -> desk INVITE latency p50/p99 from a
30 s step at 10 calls/s run before the ramp, the service's RSS per concurrent
call and, for the hotline, one call-log row per call.
Prints a table, writes JSON. Numbers only, no assertions:

    .venv/bin/python -m benchmarks.load [--quick] [--rates 2,5,10] [--seconds 20]
                                        [--latency-seconds 30]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.load_harness import FLOWS, LoadBench, StepResult, cpu_seconds

DEFAULT_RATES = [2, 4, 6, 8, 10, 15, 20, 30, 40, 60, 80, 100]
QUICK_RATES = [2, 5, 10, 20]
LATENCY_RATE = 10.0
ROWS_WAIT_S = 30.0
RESULTS = Path(__file__).resolve().parent / "results"


def idle_cpu(bench: LoadBench, seconds: float = 3.0) -> dict[str, float]:
    """CPU ms per second with no calls (the floor under every per-call number)."""
    pids = {"asterisk": bench.pbx_pid}
    if bench.service is not None:
        pids["service"] = bench.service.pid
    before = {n: cpu_seconds(p) for n, p in pids.items()}
    time.sleep(seconds)
    return {n: round((cpu_seconds(p) - before[n]) * 1000 / seconds, 2) for n, p in pids.items()}


def clean(step: StepResult) -> bool:
    """Every call done by this flow: none failed, none shed, no channel left behind."""
    return not (step.failed or step.shed or step.channels_left)


def run_flow(
    bench: LoadBench, flow: str, rates: list[float], seconds: float,
    latency_seconds: float = 30.0,
) -> dict[str, Any]:
    bench.use_flow(flow)
    idle = idle_cpu(bench)
    # The latency from a step of its own, before the ramp (nothing left over from an
    # overloaded step), long enough that its p99 is not just the second-slowest call.
    bench.say(f"[{flow}] {LATENCY_RATE:g} calls/s for {latency_seconds:g} s, the latency ...")
    at_latency = bench.run_step(flow, LATENCY_RATE, latency_seconds)
    bench.say(f"[{flow}] {LATENCY_RATE:g} calls/s: {at_latency.succeeded}/{at_latency.placed} "
              f"ok, shed {at_latency.shed}, p50 {at_latency.dtmf_to_invite_ms_p50} ms, "
              f"p99 {at_latency.dtmf_to_invite_ms_p99} ms")
    steps: list[StepResult] = []
    for rate in rates:
        bench.say(f"[{flow}] {rate:g} calls/s for {seconds:g} s ...")
        step = bench.run_step(flow, rate, seconds)
        steps.append(step)
        bench.say(f"[{flow}] {rate:g} calls/s: {step.succeeded}/{step.placed} ok "
                  f"{step.failures or ''} shed {step.shed} refused {step.refused}, "
                  f"ast {step.asterisk_cpu_ms_per_call} ms/call, "
                  f"svc {step.service_cpu_ms_per_call} ms/call, "
                  f"sipp {step.sipp_cpu_ms_per_call} ms/call, "
                  f"p99 {step.dtmf_to_invite_ms_p99} ms, channels left {step.channels_left}")
        if not clean(step):
            break
    good = []
    for s in steps:
        if not clean(s):
            break
        good.append(s)
    best = good[-1] if good else None
    over = next((s for s in steps if not clean(s)), None)

    result: dict[str, Any] = {
        "flow": flow,
        "max_rate_zero_failures": best.rate if best else 0,
        "first_failing_rate": over.rate if over else None,
        "above_ceiling": None if over is None else {
            "rate": over.rate, "placed": over.placed, "failed": over.failed,
            "failures": over.failures, "shed_to_fallback_ivr": over.shed,
            "refused": over.refused,
            "channels_left": over.channels_left},
        "idle_cpu_ms_per_s": idle,
        "at_max_rate": best.summary() if best else None,
        "latency_rate": LATENCY_RATE,
        "latency_calls": at_latency.placed,
        "latency_failed": at_latency.failed,
        "latency_shed": at_latency.shed,
        "dtmf_to_invite_ms_p50": at_latency.dtmf_to_invite_ms_p50,
        "dtmf_to_invite_ms_p99": at_latency.dtmf_to_invite_ms_p99,
        "steps": [s.summary() for s in steps],
    }
    if flow == "hotline":
        # The last rows are written after the caller's BYE; calls shed to the fallback
        # IVR get theirs from the CEL import, which sweeps every 5 s.
        waited = time.monotonic()
        while True:
            counts = bench.call_log_rows(bench.placed[flow])
            if all(c == 1 for c in counts.values()) or time.monotonic() - waited > ROWS_WAIT_S:
                break
            time.sleep(1)
        result["call_log"] = {
            "checked_after_s": round(time.monotonic() - waited, 1),
            "calls_placed": len(counts),
            "exactly_one_row": sum(1 for c in counts.values() if c == 1),
            "missing": sorted(n for n, c in counts.items() if c == 0)[:20],
            "duplicated": sorted(n for n, c in counts.items() if c > 1)[:20],
        }
    return result


def _fmt(value: object, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}{unit}" if abs(value) < 100 else f"{value:.0f}{unit}"
    return f"{value}{unit}"


def table(results: dict[str, dict[str, Any]]) -> str:
    rows: list[tuple[Any, ...]] = [("", *FLOWS)]

    def row(label: str, get: Any) -> None:
        rows.append((label, *(get(results[f]) if f in results else "-" for f in FLOWS)))

    def best(key: str, unit: str = "") -> Any:
        return lambda r: _fmt((r["at_max_rate"] or {}).get(key), unit)

    row("max calls/s, zero failures", lambda r: _fmt(r["max_rate_zero_failures"]))
    row("first failing rate", lambda r: _fmt(r["first_failing_rate"]))
    row("Asterisk CPU ms/call (at max)", best("asterisk_cpu_ms_per_call"))
    row("service CPU ms/call (at max)", best("service_cpu_ms_per_call"))
    row("SIPp CPU ms/call (at max)", best("sipp_cpu_ms_per_call"))
    row(f"DTMF->INVITE p50 @{LATENCY_RATE:g}/s ms", lambda r: _fmt(r["dtmf_to_invite_ms_p50"]))
    row(f"DTMF->INVITE p99 @{LATENCY_RATE:g}/s ms", lambda r: _fmt(r["dtmf_to_invite_ms_p99"]))
    row("  calls in the latency step", lambda r: _fmt(r["latency_calls"]))
    row("peak concurrent calls (at max)", best("peak_concurrent_calls"))
    row("service RSS KiB/concurrent call", best("service_rss_kib_per_call"))
    row("call-log rows exactly once", lambda r: (
        f"{r['call_log']['exactly_one_row']}/{r['call_log']['calls_placed']}"
        if "call_log" in r else "n/a"))
    width = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).ljust(width[i]) if i == 0 else str(c).rjust(width[i])
                       for i, c in enumerate(r)) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    steps = ["", "per step (calls/s: ok/placed, Asterisk ms/call, service ms/call, p99 ms):"]
    for flow in FLOWS:
        if flow in results:
            steps.append(f"  {flow}: " + "; ".join(
                f"{s['rate']:g}: {s['succeeded']}/{s['placed']}"
                + (f" ({s['shed']} shed)" if s["shed"] else "")
                + (f" ({s['refused']} refused)" if s["refused"] else "") + ", "
                f"{_fmt(s['asterisk_cpu_ms_per_call'])}, "
                f"{_fmt(s['service_cpu_ms_per_call'])}, {_fmt(s['dtmf_to_invite_ms_p99'])}"
                + (f" {s['failures']}" if s["failures"] else "")
                + (f" [{s['channels_left']} channels left]" if s["channels_left"] else "")
                for s in results[flow]["steps"]))
    return "\n".join(lines + steps)


def environment(bench: LoadBench) -> dict[str, Any]:
    assert bench.pbx is not None
    version = bench.pbx.cli("core show version").strip()
    sipp = subprocess.run(["sipp", "-v"], capture_output=True, text=True, check=False)
    return {
        "cpus": os.cpu_count(),
        "cpu_model": next((line.split(":", 1)[1].strip() for line in
                           Path("/proc/cpuinfo").read_text().splitlines()
                           if line.startswith("model name")), None),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "asterisk": version,
        "sipp": next((line.strip() for line in sipp.stdout.splitlines() if "SIPp" in line), None),
        "rtp_ports": bench.rtp_ports,
        "prompt_seconds": round(bench.prompt_seconds, 2),
        "database": "SQLite (aiosqlite), throwaway",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="rates 2,5,10,20 for 8 s each")
    parser.add_argument("--rates", help="comma-separated calls/s to ramp through")
    parser.add_argument("--seconds", type=float, help="seconds per step (default 20)")
    parser.add_argument("--latency-seconds", type=float,
                        help="seconds of the 10 calls/s latency step (default 30)")
    parser.add_argument("--flows", default=",".join(FLOWS))
    parser.add_argument("--rtp-ports", type=int, default=10000,
                        help="size of Asterisk's RTP port range (2 legs x 2 ports per call)")
    parser.add_argument("--out", type=Path, help="JSON output (default benchmarks/results/"
                        "<date>-load.json)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (SIPp logs)")
    args = parser.parse_args(argv)
    rates = ([float(r) for r in args.rates.split(",")] if args.rates
             else QUICK_RATES if args.quick else DEFAULT_RATES)
    seconds = args.seconds or (8.0 if args.quick else 20.0)
    flows = [f for f in args.flows.split(",") if f]
    started = datetime.now(UTC)
    results: dict[str, dict[str, Any]] = {}
    with LoadBench(rtp_ports=args.rtp_ports, keep=args.keep) as bench:
        env = environment(bench)
        for flow in flows:
            results[flow] = run_flow(bench, flow, [float(r) for r in rates], seconds,
                                     args.latency_seconds or (10.0 if args.quick else 30.0))
        workdir = str(bench.tmp)
        leftovers = bench.leftover_channels_hung_up
    report: dict[str, Any] = {
        "benchmark": "load",
        "started": started.isoformat(timespec="seconds"),
        "seconds_per_step": seconds,
        "rates": rates,
        "environment": env,
        "flow_definition": "answer, 1.4 s prompt (greeting+menu), RFC 4733 digit 1 "
                           "(dtmf_2833_1.pcap), desk rings 1 s, 3 s talk, caller BYE",
        "results": results,
        "channels_left_by_the_service_when_stopped": leftovers,
    }
    if "hotline" in results and "dialplan" in results and results["dialplan"][
            "max_rate_zero_failures"]:
        report["hotline_vs_dialplan_ceiling"] = round(
            results["hotline"]["max_rate_zero_failures"]
            / results["dialplan"]["max_rate_zero_failures"], 2)
    out = args.out or RESULTS / f"{started:%Y-%m-%d}-load.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table(results))
    if "hotline_vs_dialplan_ceiling" in report:
        print(f"\nhotline ceiling / dialplan ceiling: {report['hotline_vs_dialplan_ceiling']}")
    print(f"\nJSON: {out}" + (f"\nSIPp logs: {workdir}" if args.keep else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
