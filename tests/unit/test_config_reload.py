"""Reloading the YAML: a valid change applies to new calls, a broken one is refused."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from structlog.testing import capture_logs

from calllog.memory import InMemoryCallLog
from calllog.model import ConfigReload
from hotline.reload import ConfigHolder
from routing.config import HotlineConfig, load_config
from tests.clock import MONDAY_9AM_ICT, FakeClock

SHIPPED = Path("config/hotline.yaml").read_text(encoding="utf-8")


def holder_on(tmp_path: Path) -> tuple[ConfigHolder, Path]:
    path = tmp_path / "hotline.yaml"
    path.write_text(SHIPPED, encoding="utf-8")
    return ConfigHolder(path, load_config(path), clock=FakeClock(MONDAY_9AM_ICT)), path


def test_unchanged_file_is_not_reloaded(tmp_path: Path) -> None:
    holder, _ = holder_on(tmp_path)
    before = holder()
    assert asyncio.run(holder.reload()).status == "unchanged"
    assert holder() is before


def test_valid_change_applies_to_the_next_call(tmp_path: Path) -> None:
    holder, path = holder_on(tmp_path)
    in_progress = holder()
    path.write_text(SHIPPED.replace('desks: ["1401", "1402"]', 'desks: ["1402", "1401"]'),
                    encoding="utf-8")
    with capture_logs() as logs:
        result = asyncio.run(holder.reload())
    assert result.status == "applied"
    assert holder().branch(4).desks == ["1402", "1401"]  # type: ignore[union-attr]
    assert in_progress.branch(4).desks == ["1401", "1402"]  # type: ignore[union-attr]
    assert [e["event"] for e in logs] == ["config applied to new calls"]
    assert logs[0]["sha256"] == result.sha256


def test_broken_change_is_refused_and_the_running_config_stays(tmp_path: Path) -> None:
    holder, path = holder_on(tmp_path)
    before = holder()
    path.write_text(SHIPPED.replace("  - key: 9\n", "  - key: 10\n"), encoding="utf-8")
    with capture_logs() as logs:
        result = asyncio.run(holder.reload())
    assert result.status == "refused"
    assert any("branches[8].key" in p for p in result.problems)
    assert holder() is before
    assert logs[0]["log_level"] == "error" and logs[0]["problems"] == list(result.problems)
    # the same bad bytes are not re-reported
    assert asyncio.run(holder.reload()).status == "unchanged"


# --- applying to Asterisk, and the reload history -----------------------------------------

REORDERED = SHIPPED.replace('desks: ["1401", "1402"]', 'desks: ["1402", "1401"]')
BROKEN = SHIPPED.replace("  - key: 9\n", "  - key: 10\n")


class Pbx:
    """`apply`: what reaches Asterisk; `hold` keeps an apply waiting until released."""

    def __init__(self, *, hold: bool = False, error: Exception | None = None) -> None:
        self.applied: list[HotlineConfig] = []
        self.running = self.most_at_once = 0
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        if not hold:
            self.release.set()
        self.error = error

    async def __call__(self, config: HotlineConfig) -> None:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        self.started.set()
        try:
            await self.release.wait()
            if self.error is not None:
                raise self.error
            self.applied.append(config)
        finally:
            self.running -= 1


def holder_with(
    tmp_path: Path, pbx: Pbx, record: Callable[[ConfigReload], Awaitable[None]] | None = None,
) -> tuple[ConfigHolder, Path, InMemoryCallLog]:
    path = tmp_path / "hotline.yaml"
    path.write_text(SHIPPED, encoding="utf-8")
    calllog = InMemoryCallLog()
    holder = ConfigHolder(path, load_config(path), apply=pbx, clock=FakeClock(MONDAY_9AM_ICT),
                          record=record or calllog.record_reload)
    return holder, path, calllog


async def test_new_calls_keep_the_old_config_until_asterisk_has_the_new_one(
    tmp_path: Path,
) -> None:
    pbx = Pbx(hold=True)
    holder, path, _ = holder_with(tmp_path, pbx)
    before = holder()
    path.write_text(REORDERED, encoding="utf-8")

    with capture_logs():
        reload = asyncio.create_task(holder.reload())
        await asyncio.wait_for(pbx.started.wait(), 1)
        assert holder() is before  # a call starting now: the dialplan is not there yet
        pbx.release.set()
        result = await asyncio.wait_for(reload, 1)

    assert result.status == "applied" and result.pbx_error is None
    (applied,) = pbx.applied
    assert holder() is applied
    assert applied.branch(4).desks == ["1402", "1401"]  # type: ignore[union-attr]


async def test_config_asterisk_refuses_still_applies_to_new_calls(tmp_path: Path) -> None:
    pbx = Pbx(error=RuntimeError("PUT /asterisk/modules/pbx_config.so -> 500"))
    holder, path, calllog = holder_with(tmp_path, pbx)
    path.write_text(REORDERED, encoding="utf-8")

    with capture_logs() as logs:
        result = await holder.reload()

    assert result.status == "applied"
    assert result.pbx_error == "RuntimeError: PUT /asterisk/modules/pbx_config.so -> 500"
    assert holder().branch(4).desks == ["1402", "1401"]  # type: ignore[union-attr]
    assert holder.counts == {"applied": 1}
    failure = next(e for e in logs if e["log_level"] == "error")
    assert failure["event"] == "config not applied to Asterisk; new calls use it anyway"
    assert failure["sha256"] == result.sha256
    (reload,) = await calllog.list_reloads()
    assert (reload.status, reload.pbx_error) == ("applied", result.pbx_error)


async def test_refused_config_is_not_applied_to_asterisk(tmp_path: Path) -> None:
    pbx = Pbx()
    holder, path, calllog = holder_with(tmp_path, pbx)
    before = holder()
    path.write_text(BROKEN, encoding="utf-8")

    with capture_logs():
        result = await holder.reload()

    assert result.status == "refused"
    assert pbx.applied == [] and not pbx.started.is_set()
    assert holder() is before
    assert holder.counts == {"refused": 1}
    (reload,) = await calllog.list_reloads()
    assert (reload.status, reload.sha256, reload.file) == ("refused", result.sha256, str(path))
    assert reload.problems == "\n".join(result.problems)
    assert len(result.problems) >= 1 and reload.pbx_error is None


async def test_every_reload_but_unchanged_ones_is_recorded(tmp_path: Path) -> None:
    recorded: list[ConfigReload] = []

    async def record(reload: ConfigReload) -> None:
        recorded.append(reload)

    holder, path, _ = holder_with(tmp_path, Pbx(), record)
    assert (await holder.reload()).status == "unchanged"
    path.write_text(REORDERED, encoding="utf-8")
    with capture_logs():
        applied = await holder.reload()
        assert (await holder.reload()).status == "unchanged"
        path.write_text(BROKEN, encoding="utf-8")
        refused = await holder.reload()

    assert [(r.status, r.sha256) for r in recorded] == [
        ("applied", applied.sha256), ("refused", refused.sha256)]
    assert recorded[0].sha256 == hashlib.sha256(REORDERED.encode()).hexdigest()
    assert recorded[0].problems == "" and recorded[0].pbx_error is None
    assert all(r.at.tzinfo is not None and r.file == str(path) for r in recorded)


async def test_reload_that_cannot_be_recorded_still_takes_effect(tmp_path: Path) -> None:
    async def database_down(reload: ConfigReload) -> None:
        raise ConnectionRefusedError("database unreachable")

    holder, path, _ = holder_with(tmp_path, Pbx(), database_down)
    path.write_text(REORDERED, encoding="utf-8")

    with capture_logs() as logs:
        result = await holder.reload()

    assert result.status == "applied"
    assert holder().branch(4).desks == ["1402", "1401"]  # type: ignore[union-attr]
    failure = next(e for e in logs if e["event"] == "could not record the reload")
    assert failure["log_level"] == "error" and failure["sha256"] == result.sha256


async def test_reloads_at_the_same_time_apply_one_after_the_other(tmp_path: Path) -> None:
    pbx = Pbx(hold=True)
    holder, path, calllog = holder_with(tmp_path, pbx)
    path.write_text(REORDERED, encoding="utf-8")

    with capture_logs():
        first = asyncio.create_task(holder.reload())  # the file poll
        await asyncio.wait_for(pbx.started.wait(), 1)
        second = asyncio.create_task(holder.reload())  # SIGHUP meanwhile
        await asyncio.sleep(0.01)
        assert not second.done()  # waits for the first to finish
        pbx.release.set()
        results = await asyncio.wait_for(asyncio.gather(first, second), 1)

    assert [r.status for r in results] == ["applied", "unchanged"]
    assert len(pbx.applied) == 1 and pbx.most_at_once == 1
    assert [r.status for r in await calllog.list_reloads()] == ["applied"]


async def test_a_change_during_an_apply_is_applied_after_it(tmp_path: Path) -> None:
    pbx = Pbx(hold=True)
    holder, path, _ = holder_with(tmp_path, pbx)
    path.write_text(REORDERED, encoding="utf-8")

    with capture_logs():
        first = asyncio.create_task(holder.reload())
        await asyncio.wait_for(pbx.started.wait(), 1)
        path.write_text(SHIPPED.replace("max_attempts: 3", "max_attempts: 4"), encoding="utf-8")
        second = asyncio.create_task(holder.reload())
        pbx.release.set()
        results = await asyncio.wait_for(asyncio.gather(first, second), 1)

    assert [r.status for r in results] == ["applied", "applied"]
    assert pbx.most_at_once == 1
    assert [c.menu.max_attempts for c in pbx.applied] == [3, 4]
    assert holder() is pbx.applied[-1]


# --- the file poll: a file being written is not applied until it is stable ---------------

def cut_inside_stations(text: str, keep: int) -> str:
    """`text` cut at a line end after its first `keep` stations (what an editor's
    half-finished save leaves: still valid YAML, and a valid config)."""
    lines = text.splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.startswith("stations:"))
    station_lines = [i for i in range(first, len(lines)) if lines[i].startswith("  - {")]
    return "".join(lines[: station_lines[keep - 1] + 1])


async def test_a_file_cut_mid_way_is_not_applied_at_the_first_poll(tmp_path: Path) -> None:
    pbx = Pbx()
    holder, path, calllog = holder_with(tmp_path, pbx)
    before = holder()
    whole = REORDERED
    half = cut_inside_stations(whole, 62)
    assert len(load_config(write_text(tmp_path / "half.yaml", half)).stations) == 62

    path.write_text(half, encoding="utf-8")  # the editor is still writing
    with capture_logs():
        assert (await holder.poll()).status == "settling"
        assert holder() is before and pbx.applied == []
        path.write_text(whole, encoding="utf-8")  # ... and now it is done
        assert (await holder.poll()).status == "settling"  # changed since the last poll
        assert pbx.applied == []
        result = await holder.poll()  # the same bytes, size and time twice: stable

    assert result.status == "applied"
    assert result.sha256 == hashlib.sha256(whole.encode()).hexdigest()
    (applied,) = pbx.applied
    assert holder() is applied and len(applied.stations) == 106
    assert [(r.status, r.sha256) for r in await calllog.list_reloads()] == [
        ("applied", result.sha256)]
    assert (await holder.poll()).status == "unchanged"


async def test_a_file_left_cut_is_applied_once_it_stops_changing(tmp_path: Path) -> None:
    pbx = Pbx()
    holder, path, _ = holder_with(tmp_path, pbx)
    path.write_text(cut_inside_stations(SHIPPED, 62), encoding="utf-8")

    with capture_logs():
        assert (await holder.poll()).status == "settling"
        assert (await holder.poll()).status == "applied"

    assert len(holder().stations) == 62


async def test_the_same_bytes_written_again_wait_for_one_more_poll(tmp_path: Path) -> None:
    pbx = Pbx()
    holder, path, _ = holder_with(tmp_path, pbx)
    path.write_text(REORDERED, encoding="utf-8")
    with capture_logs():
        assert (await holder.poll()).status == "settling"
        stat = path.stat()
        path.write_text(REORDERED, encoding="utf-8")
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # rewritten
        assert (await holder.poll()).status == "settling"
        assert pbx.applied == []
        assert (await holder.poll()).status == "applied"


async def test_a_broken_file_is_refused_once_stable_and_only_once(tmp_path: Path) -> None:
    holder, path, calllog = holder_with(tmp_path, Pbx())
    path.write_text(BROKEN, encoding="utf-8")
    with capture_logs():
        statuses = [(await holder.poll()).status for _ in range(4)]
    assert statuses == ["settling", "refused", "unchanged", "unchanged"]
    assert [r.status for r in await calllog.list_reloads()] == ["refused"]


async def test_a_signal_reloads_at_once_without_waiting_for_the_file_to_settle(
    tmp_path: Path,
) -> None:
    pbx = Pbx()
    holder, path, _ = holder_with(tmp_path, pbx)
    path.write_text(REORDERED, encoding="utf-8")
    with capture_logs():
        assert (await holder.reload()).status == "applied"  # SIGHUP: the admin says it is done
        assert (await holder.poll()).status == "unchanged"
    assert len(pbx.applied) == 1


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


async def test_a_file_gone_for_two_polls_is_refused_once_and_the_config_stays(
    tmp_path: Path,
) -> None:
    holder, path, calllog = holder_with(tmp_path, Pbx())
    before = holder()
    path.unlink()
    with capture_logs():
        statuses = [(await holder.poll()).status for _ in range(3)]
    assert statuses == ["settling", "refused", "unchanged"]
    assert holder() is before
    (reload,) = await calllog.list_reloads()
    assert "cannot read file" in reload.problems
