"""`hotline callbacks` and `hotline callbacks done`, in process against a temp SQLite file:
what the operator types and reads, the exit codes, and what ends up in the call log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from calllog.model import Callback, CallRecord, Outcome
from tests.cli_store import Run, cli_database, cli_runner, on_store

T0 = datetime(2025, 3, 4, 2, 15, tzinfo=UTC)  # 09:15 in Hậu Giang


def call(call_id: str, started_at: datetime, callback: str | None = None,
         caller_name: str = "") -> CallRecord:
    return CallRecord(
        call_id=call_id, caller_number="0911000111", caller_name=caller_name,
        started_at=started_at, ended_at=started_at + timedelta(minutes=1),
        outcome=Outcome.CLOSED if callback else Outcome.CONNECTED, callback=callback,
    )


def seed(url: str, calls: Sequence[CallRecord]) -> None:
    on_store(url, lambda store: store.apply(calls))


def callback_of(url: str, call_id: str) -> str | None:
    stored = on_store(url, lambda store: store.get(call_id))
    assert stored is not None
    return stored.callback


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    return cli_database(tmp_path, monkeypatch)


@pytest.fixture
def run(url: str, capsys: pytest.CaptureFixture[str]) -> Run:
    return cli_runner("callbacks", capsys)


# --- done -----------------------------------------------------------------------------


def test_done_refuses_a_prefix_that_two_pending_call_backs_share(url: str, run: Run) -> None:
    """One of the two is older than the 19 newer calls that share the prefix too."""
    seed(url, [
        call("1741000000.1", T0, "pending"),
        *(call(f"1741000001.{i:02d}", T0 + timedelta(minutes=i + 1)) for i in range(19)),
        call("1741000002.1", T0 + timedelta(hours=1), "pending"),
    ])
    code, out, err = run("done", "1741")
    assert (code, out) == (4, "")
    assert err == ("1741: 2 pending call backs match this id (1741000000.1, 1741000002.1): "
                   "give more of it\n")
    assert callback_of(url, "1741000000.1") == callback_of(url, "1741000002.1") == "pending"


def test_done_marks_the_one_pending_call_back_behind_newer_calls(url: str, run: Run) -> None:
    seed(url, [
        call("1741000000.1", T0, "pending"),
        *(call(f"1741000001.{i:02d}", T0 + timedelta(minutes=i + 1)) for i in range(25)),
    ])
    assert run("done", "1741", "--note", "đã gọi lại") == (
        0, "1741000000.1: marked handled\n", "")
    stored = on_store(url, lambda store: store.get("1741000000.1"))
    assert stored is not None
    assert (stored.callback, stored.callback_note) == (Callback.DONE, "đã gọi lại")
    assert run("done", "1741000000.1") == (
        4, "", "1741000000.1: its call back is already marked handled\n")


def test_done_takes_a_whole_id_that_starts_another_pending_one(url: str, run: Run) -> None:
    seed(url, [call("1741000000.1", T0, "pending"),
               call("1741000000.10", T0 + timedelta(minutes=1), "pending")])
    assert run("done", "1741000000.1")[:2] == (0, "1741000000.1: marked handled\n")
    assert callback_of(url, "1741000000.10") == "pending"


@pytest.mark.parametrize("prefix", ["", "  "])
def test_done_refuses_an_empty_id(
    url: str, run: Run, prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(url, [call("1741000000.1", T0, "pending")])
    with pytest.raises(SystemExit) as exited:
        run("done", prefix)
    assert exited.value.code == 2
    assert "an empty id would match every call" in capsys.readouterr().err
    assert callback_of(url, "1741000000.1") == "pending"


# --- the list -------------------------------------------------------------------------


def test_the_list_shows_the_pending_first_and_says_when_more_exist(url: str, run: Run) -> None:
    """597 handled call backs, then 3 pending ones: page 1 starts with the 3."""
    seed(url, [
        *(call(f"1741000001.{i:03d}", T0 + timedelta(minutes=i), "done") for i in range(597)),
        *(call(f"1741000002.{i}", T0 + timedelta(days=1, minutes=i), "pending")
          for i in range(3)),
    ])
    code, out, _ = run("--all")
    lines = out.splitlines()
    assert code == 0
    assert [line.split()[0] for line in lines[1:5]] == [
        "1741000002.0", "1741000002.1", "1741000002.2", "1741000001.000"]
    assert len(lines) == 1 + 50 + 1
    assert lines[-1] == "(showing 1–50 of 600 (3 pending); next: --all --page 2)"

    code, out, _ = run("--all", "--page", "12")
    lines = out.splitlines()
    assert lines[-1] == "(showing 551–600 of 600 (3 pending))"
    assert lines[-2].startswith("1741000001.596")
    code, out, _ = run("--all", "--page", "2", "--limit", "500")
    assert out.splitlines()[-1] == "(showing 501–600 of 600 (3 pending))"
    code, out, _ = run("--all", "--page", "13")
    assert out == ("page 13 is past the end: 600 call backs, 12 page(s) of 50; "
                   "last: --all --page 12\n")

    code, out, _ = run()  # only the pending ones: one page, no notice
    assert [line.split()[0] for line in out.splitlines()] == [
        "ID", "1741000002.0", "1741000002.1", "1741000002.2"]
    code, out, _ = run("--limit", "2")
    assert out.splitlines()[-1] == "(showing 1–2 of 3; next: --page 2 --limit 2)"


@pytest.mark.parametrize("args", [("--page", "0"), ("--limit", "-5"), ("--page", "two")])
def test_a_page_or_limit_below_one_is_a_usage_error(run: Run, args: tuple[str, ...]) -> None:
    with pytest.raises(SystemExit) as exited:
        run(*args)
    assert exited.value.code == 2


def test_the_list_shows_control_characters_in_a_caller_name_as_escapes(
    url: str, run: Run
) -> None:
    seed(url, [call("1741000000.1", T0, "pending",
                    caller_name="\x1b]0;pwned\x07Lê\u202eTrần\x9b2J\nB")])
    code, out, _ = run()
    assert code == 0
    assert "0911000111 \\x1b]0;pwned\\x07Lê\\u202eTrần\\x9b2J\\x0aB" in out
    assert not any(c in out for c in "\x1b\x07\u202e\x9b")
    assert len(out.splitlines()) == 2


def test_without_call_backs_the_list_says_so(run: Run) -> None:
    assert run() == (0, "No calls waiting for a call back.\n", "")
    assert run("--all") == (0, "No call backs.\n", "")


def test_done_not_reached_keeps_the_call_back_pending(url: str, run: Run) -> None:
    seed(url, [call("1741000000.1", T0, "pending")])
    code, out, _ = run("done", "1741000000.1", "--result", "not_reached", "--by", "lan")
    assert (code, out) == (0, "1741000000.1: not reached, still pending (try again later)\n")
    assert callback_of(url, "1741000000.1") == Callback.PENDING
    assert run("done", "1741000000.1", "--result", "wrong_number")[:2] == (
        0, "1741000000.1: marked handled (wrong number)\n")
    assert callback_of(url, "1741000000.1") == Callback.DONE
