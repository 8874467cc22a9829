"""`hotline cases open/list/show/update`, in process against a temp SQLite file: what the
operator types and reads, the exit codes, and what ends up in the call log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from calllog.model import CallRecord, Case, CaseStatus, Outcome
from calllog.store import CallLogStore
from hotline.cases import LOCAL
from tests.cli_store import Run, cli_database, cli_runner, on_store

T0 = datetime(2025, 3, 4, 2, 15, tzinfo=UTC)  # 09:15 in Hậu Giang
BRANCH = "Cải cách thủ tục hành chính"


def served_call(call_id: str = "1741054530.42", started_at: datetime = T0) -> CallRecord:
    return CallRecord(
        call_id=call_id, caller_number="0901234567", caller_name="Nguyễn Văn Ánh",
        started_at=started_at, answered_at=started_at, ended_at=started_at + timedelta(minutes=3),
        branch_key=4, branch_name=BRANCH, agency="Văn phòng UBND tỉnh", desk_answered="2042",
        outcome=Outcome.CONNECTED,
    )


def closed_hours_call() -> CallRecord:
    return CallRecord(
        call_id="1741060000.7", caller_number="0911000111", caller_agency="UBND xã Vị Tân",
        started_at=T0 + timedelta(hours=12), ended_at=T0 + timedelta(hours=12, minutes=1),
        outcome=Outcome.CLOSED, recording="vm-1795464328-0", recording_seconds=42,
        callback="pending",
    )


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = cli_database(tmp_path, monkeypatch)
    monkeypatch.setenv("USER", "hoa")

    async def seed(store: CallLogStore) -> None:
        await store.save(served_call())
        await store.save(served_call("1741054530.420", T0 + timedelta(minutes=1)))
        await store.save(served_call("1741054599.1", T0 + timedelta(minutes=2)))
        await store.save(closed_hours_call())
        await store.save(CallRecord(call_id="1741070000.3", caller_number="0933",
                                    started_at=T0 + timedelta(hours=13)))

    on_store(url, seed)
    return url


@pytest.fixture
def run(url: str, capsys: pytest.CaptureFixture[str]) -> Run:
    return cli_runner("cases", capsys)


def stored_case(url: str, case_id: int) -> Case:
    case = on_store(url, lambda store: store.get_case(case_id))
    assert case is not None
    return case


# --- open -----------------------------------------------------------------------------


def test_open_by_a_unique_prefix_takes_the_branch_and_the_message(url: str, run: Run) -> None:
    assert run("open", "1741060", "--note", "phản ánh thái độ cán bộ xã") == (
        0,
        "case 1 opened for call 1741060000.7 (message vm-1795464328-0): Chung, received\n",
        "",
    )
    case = stored_case(url, 1)
    assert (case.call_id, case.recording, case.category, case.opened_by) == (
        "1741060000.7", "vm-1795464328-0", "Chung", "hoa"
    )
    assert case.key is None
    [first] = case.history
    assert (first.status, first.by, first.note) == (
        CaseStatus.RECEIVED, "hoa", "phản ánh thái độ cán bộ xã"
    )
    assert first.at == case.opened_at and first.at.tzinfo is UTC

    code, out, _ = run("open", "1741054599", "--by", "Lan")
    assert code == 0 and out.startswith(f"case 2 opened for call 1741054599.1: {BRANCH},")
    assert stored_case(url, 2).opened_by == "Lan"


def test_open_without_user_is_by_operator(
    url: str, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("USER")
    assert run("open", "1741070000.3", "--category", "Đất đai")[0] == 0
    case = stored_case(url, 1)
    assert (case.opened_by, case.category, case.recording) == ("operator", "Đất đai", None)


def test_open_needs_one_call(run: Run) -> None:
    code, out, err = run("open", "17410545")
    assert (code, out) == (2, "")
    assert err.startswith("17410545: 3 calls match this id (")
    assert run("open", "1799") == (2, "", "1799: no call has this id\n")
    assert run("open") == (2, "", "which call? give its id, or --recording NAME for a message\n")
    # A whole id is enough even when it is the prefix of another.
    code, out, _ = run("open", "1741054530.42")
    assert code == 0 and "for call 1741054530.42:" in out


def test_a_call_with_a_case_needs_new_for_another(url: str, run: Run) -> None:
    assert run("open", "1741054530.420")[0] == 0
    code, _, err = run("open", "1741054530.420", "--note", "lần hai")
    assert code == 2
    assert err == (
        "call 1741054530.420 already has case 1 (received): `hotline cases show 1`, or "
        "open another with --new\n"
    )
    assert run("open", "1741054530.420", "--new")[0] == 0
    assert stored_case(url, 2).call_id == "1741054530.420"


def test_open_a_recorded_message(url: str, run: Run) -> None:
    code, out, _ = run("open", "--recording", "vm-1795464328-0")
    assert code == 0
    assert out.startswith("case 1 opened for call 1741060000.7 (message vm-1795464328-0)")
    case = stored_case(url, 1)
    assert (case.call_id, case.recording) == ("1741060000.7", "vm-1795464328-0")


def test_open_refuses_a_message_no_call_has(url: str, run: Run) -> None:
    assert run("open", "--recording", "vm-1795999999-0", "--category", "Đất đai") == (
        2, "", "vm-1795999999-0: no call in the log has this message (see `hotline "
        "callbacks --all` for the messages left)\n"
    )
    assert on_store(url, lambda store: store.get_case(1)) is None


# --- update ---------------------------------------------------------------------------


def test_update_moves_the_case_along_and_records_who(url: str, run: Run) -> None:
    run("open", "1741060000.7")
    assert run("update", "1", "--status", "forwarded", "--agency", "UBND huyện Long Mỹ",
               "--note", "chuyển huyện", "--by", "Lan") == (
        0, "case 1: received -> forwarded (forwarded, agency UBND huyện Long Mỹ)\n", ""
    )
    assert run("update", "1", "--status", "forwarded", "--note", "đã gọi huyện",
               "--by", "Hùng")[1] == "case 1: note added (forwarded, agency UBND huyện Long Mỹ)\n"
    assert run("update", "1", "--status", "verifying", "--by", "Hùng")[0] == 0
    assert run("update", "1", "--status", "resolved", "--by", "Lan")[0] == 0
    case = stored_case(url, 1)
    assert [(c.status.value, c.by, c.note) for c in case.history] == [
        ("received", "hoa", ""),
        ("forwarded", "Lan", "chuyển huyện"),
        ("forwarded", "Hùng", "đã gọi huyện"),
        ("verifying", "Hùng", ""),
        ("resolved", "Lan", ""),
    ]


def test_update_refuses_what_the_workflow_does_not_allow(url: str, run: Run) -> None:
    run("open", "1741060000.7")
    code, out, err = run("update", "1", "--status", "resolved", "--by", "Lan")
    assert (code, out) == (2, "")
    assert err == (
        "case 1: cannot go from received to resolved; allowed next: forwarded, verifying, "
        "rejected (or received again, to add a note)\n"
    )
    assert run("update", "1", "--status", "forwarded", "--by", "Lan") == (
        2, "", "case 1: forwarding needs the agency it goes to\n"
    )
    assert run("update", "9", "--status", "verifying", "--by", "Lan") == (
        2, "", "no case 9 in the call log\n"
    )
    assert run("update", "1", "--status", "rejected", "--by", "Lan")[0] == 0
    code, _, err = run("update", "1", "--status", "verifying", "--by", "Lan")
    assert code == 2 and "rejected is final: only a note can be added" in err
    assert len(stored_case(url, 1).history) == 2


@pytest.mark.parametrize("args", [
    ("update", "1", "--status", "verifying"),  # --by is required
    ("update", "1", "--status", "closed", "--by", "Lan"),
    ("update", "one", "--status", "verifying", "--by", "Lan"),
    ("list", "--from", "04/03/2025"),
    ("list", "--status", "open"),
    (),
])
def test_usage_errors_exit_2(run: Run, args: tuple[str, ...]) -> None:
    with pytest.raises(SystemExit) as exited:
        run(*args)
    assert exited.value.code == 2


@pytest.mark.parametrize("args", [
    ("show", "99999999999999999999"),
    ("show", "9223372036854775808"),
    ("show", "0"),
    ("show", "-1"),
    ("update", "99999999999999999999", "--status", "verifying", "--by", "Lan"),
])
def test_a_case_id_out_of_range_is_a_usage_error(
    run: Run, args: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        run(*args)
    assert exited.value.code == 2
    assert "a case id is a whole number from 1 to 9223372036854775807" in capsys.readouterr().err


def test_the_largest_case_id_is_looked_up(run: Run) -> None:
    assert run("show", "9223372036854775807") == (2, "", "no case 9223372036854775807\n")


# --- list and show --------------------------------------------------------------------


def seed_cases(url: str) -> None:
    """Five cases a day apart from 2025-03-04 09:20 (ICT), moved along differently."""

    async def seed(store: CallLogStore) -> None:
        for day, call_id in enumerate(["1741054530.42", "1741054530.420", "1741054599.1",
                                       "1741060000.7", "1741070000.3"]):
            at = T0 + timedelta(days=day, minutes=5)
            await store.create_case(Case(id=None, call_id=call_id,
                                         category="Đất đai" if day % 2 else BRANCH,
                                         opened_at=at, opened_by="desk 1101"))
        later = T0 + timedelta(days=10)
        await store.update_case(2, status="forwarded", by="Lan", at=later, agency="Sở Tư pháp")
        await store.update_case(3, status="forwarded", by="Lan", at=later, agency="Sở Y tế")
        await store.update_case(4, status="rejected", by="Lan", at=later)

    on_store(url, seed)


def test_list_shows_local_times_newest_first(url: str, run: Run) -> None:
    seed_cases(url)
    code, out, _ = run("list")
    assert code == 0
    assert out.splitlines() == [
        "ID  OPENED (ICT)      STATUS     CATEGORY                     AGENCY      CALLER"
        "      CALL",
        "5   2025-03-08 09:20  received   Cải cách thủ tục hành chính  -           0933"
        "        1741070000.3",
        "4   2025-03-07 09:20  rejected   Đất đai                      -           0911000111"
        "  1741060000.7",
        "3   2025-03-06 09:20  forwarded  Cải cách thủ tục hành chính  Sở Y tế     0901234567"
        "  1741054599.1",
        "2   2025-03-05 09:20  forwarded  Đất đai                      Sở Tư pháp  0901234567"
        "  1741054530.420",
        "1   2025-03-04 09:20  received   Cải cách thủ tục hành chính  -           0901234567"
        "  1741054530.42",
    ]


def ids(out: str) -> list[str]:
    return [line.split()[0] for line in out.splitlines()[1:] if line[0].isdigit()]


def test_list_filters_combine(url: str, run: Run) -> None:
    seed_cases(url)
    assert ids(run("list", "--status", "forwarded")[1]) == ["3", "2"]
    assert ids(run("list", "--status", "forwarded", "--agency", "Sở Tư pháp")[1]) == ["2"]
    assert ids(run("list", "--category", "Đất đai")[1]) == ["4", "2"]
    # Days are local: 2025-03-05 is 2025-03-04 17:00 to 2025-03-05 17:00 UTC.
    assert ids(run("list", "--from", "2025-03-05", "--to", "2025-03-06")[1]) == ["3", "2"]
    assert ids(run("list", "--from", "2025-03-07")[1]) == ["5", "4"]
    assert ids(run("list", "--to", "2025-03-04")[1]) == ["1"]
    out = run("list", "--limit", "2")[1]
    assert ids(out) == ["5", "4"]
    assert out.splitlines()[-1] == "(the newest 2; --limit for more)"
    assert run("list", "--status", "resolved") == (0, "No cases match these filters.\n", "")
    assert run("list", "--from", "2025-03-07", "--to", "2025-03-05") == (
        2, "", "--from is after --to\n"
    )


def test_list_without_cases(run: Run) -> None:
    assert run("list") == (0, "No cases.\n", "")


def test_show_gives_the_case_its_call_and_its_history(url: str, run: Run) -> None:
    run("open", "1741060000.7", "--note", "phản ánh thái độ cán bộ xã")
    run("update", "1", "--status", "forwarded", "--agency", "UBND huyện Long Mỹ",
        "--note", "chuyển huyện", "--by", "Lan")
    case = stored_case(url, 1)
    opened, forwarded = (c.at.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M")
                         for c in case.history)
    code, out, _ = run("show", "1")
    assert code == 0
    assert out.splitlines() == [
        "Case 1: forwarded",
        "  category : Chung",
        "  agency   : UBND huyện Long Mỹ",
        f"  opened   : {opened} (ICT) by hoa",
        "  message  : vm-1795464328-0",
        "",
        "Call 1741060000.7",
        "  started  : 2025-03-04 21:15 (ICT)",
        "  caller   : 0911000111 (UBND xã Vị Tân)",
        "  branch   : -",
        "  outcome  : closed",
        "  message  : vm-1795464328-0.wav (42 s)",
        "",
        "History",
        "  AT (ICT)          STATUS     BY   AGENCY              NOTE",
        f"  {opened}  received   hoa  -                   phản ánh thái độ cán bộ xã",
        f"  {forwarded}  forwarded  Lan  UBND huyện Long Mỹ  chuyển huyện",
    ]


def test_show_of_a_served_call_and_of_an_unknown_case(url: str, run: Run) -> None:
    run("open", "1741054530.42")
    out = run("show", "1")[1]
    assert "  caller   : 0901234567 Nguyễn Văn Ánh\n" in out
    assert f"  branch   : 4. {BRANCH} (Văn phòng UBND tỉnh)\n" in out
    assert "  outcome  : connected, answered by desk 2042\n" in out
    assert run("show", "7") == (2, "", "no case 7\n")


HOSTILE_NAME = "\x1b[2J\x1b]0;pwned\x07Lê\u202eTrần\x9b1m\r\nVăn"
SHOWN_NAME = "\\x1b[2J\\x1b]0;pwned\\x07Lê\\u202eTrần\\x9b1m\\x0d\\x0aVăn"


def test_show_and_list_print_control_characters_as_escapes(url: str, run: Run) -> None:
    async def seed(store: CallLogStore) -> None:
        call = served_call("1741099999.1", T0 + timedelta(days=1))
        call.caller_name = HOSTILE_NAME
        call.caller_number = "0901\x1b[8m"
        await store.save(call)
        await store.create_case(Case(id=None, call_id=call.call_id, category="Đất\u202eđai",
                                     opened_at=T0, opened_by="hoa\x1b[31m", agency="\x9b0m"))

    on_store(url, seed)
    for command in ("show", "list"):
        code, out, _ = run(command, *(["1"] if command == "show" else []))
        assert code == 0
        assert not any(c in out for c in "\x1b\x07\x9b\u202e\r"), command
    out = run("show", "1")[1]
    assert f"  caller   : 0901\\x1b[8m {SHOWN_NAME}\n" in out
    assert "  category : Đất\\u202eđai\n" in out
    assert "by hoa\\x1b[31m\n" in out
    assert "0901\\x1b[8m" in run("list")[1]
