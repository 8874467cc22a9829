"""Cấu hình in the console, in process, on real SQLite and PostgreSQL: the YAML in force
as tables, the recent reloads with their problems, an admin's upload checked like
`hotline config check`, and applied by writing the configured file atomically with its
mode kept (audited); operators see no upload form and every POST of theirs is 403."""

from __future__ import annotations

import base64
import html
import os
import re
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from calllog.db import make_engine, make_sessionmaker
from calllog.model import ConfigReload
from calllog.queries import CallQueries
from calllog.store import CallLogStore
from calllog.users import Role, UserStore
from console.app import create_app
from tests.clock import FakeClock
from tests.console_client import ROOT, SECRET, add_user, client, csrf_of, hotline_config, log_in

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
GOOD = (ROOT / "config" / "hotline.yaml").read_bytes()
BAD = GOOD.replace(b'desks: ["1401", "1402"]', b'desks: ["14x01"]', 1)


@dataclass
class Console:
    http: httpx.AsyncClient
    users: UserStore
    path: Path
    store: CallLogStore


@pytest.fixture
async def console(db_url: str, tmp_path: Path) -> AsyncIterator[Console]:
    (tmp_path / "config").mkdir()
    path = tmp_path / "config" / "hotline.yaml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(GOOD)
    engine = make_engine(db_url)
    clock = FakeClock(NOW)
    try:
        sessions = make_sessionmaker(engine)
        users = UserStore(sessions)
        for name, role, agency in (("admin", Role.ADMIN, None), ("op", Role.OPERATOR, None),
                                   ("xem", Role.VIEWER, None),
                                   ("tc", Role.AGENCY, "Sở Tài chính")):
            await add_user(users, clock, name, role, agency)
        app = create_app(users=users, config=hotline_config(), clock=clock, secret=SECRET,
                         queries=CallQueries(sessions), config_path=path)
        async with client(app) as http:
            yield Console(http, users, path, CallLogStore(sessions))
    finally:
        await engine.dispose()


async def _upload(c: Console, data: bytes, name: str = "moi.yaml") -> httpx.Response:
    token = await csrf_of(c.http, "/config")
    return await c.http.post("/config/check", data={"csrf_token": token},
                             files={"file": (name, data, "application/yaml")})


def _hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no {name} on the page"
    return html.unescape(found.group(1))


async def test_the_configuration_in_force_is_shown_as_tables(console: Console) -> None:
    await log_in(console.http, "op")
    page = (await console.http.get("/config")).text
    config = hotline_config()
    for branch in config.branches:
        assert html.escape(branch.name) in page and html.escape(branch.agency) in page
    assert "1401 — " in page  # desks with their names
    assert "07:00–11:30; 13:30–17:00" in page  # the hours, with the lunch break between
    assert "Thứ Hai, Thứ Ba, Thứ Tư, Thứ Năm, Thứ Sáu" in page
    holiday = config.hours.holidays[0]
    assert f"{holiday.date:%d/%m/%Y}</td><td>{html.escape(holiday.name)}" in page
    assert f"({len(config.stations)}/{len(config.stations)})" in page
    assert all(html.escape(s.agency) in page for s in config.stations)


async def test_the_stations_can_be_searched_and_filtered_by_kind(console: Console) -> None:
    await log_in(console.http, "admin")
    communes = [s for s in hotline_config().stations if s.kind == "commune"]
    page = (await console.http.get("/config", params={"kind": "commune"})).text
    assert f"({len(communes)}/" in page
    one = communes[0]
    page = (await console.http.get("/config", params={"q": one.agency.upper()})).text
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td>", page)
    assert (one.extension, html.escape(one.agency)) in rows
    words = one.agency.casefold().split()
    assert all(all(w in html.unescape(agency).casefold() for w in words) for _, agency in rows)
    assert len(rows) < len(hotline_config().stations)


async def test_the_recent_reloads_are_listed_with_status_and_problems(console: Console) -> None:
    await console.store.apply([
        ConfigReload(at=NOW, file="config/hotline.yaml", sha256="a" * 64, status="refused",
                     problems="config/hotline.yaml:112 branches[3].desks[0]: bad"),
        ConfigReload(at=NOW.replace(hour=4), file="config/hotline.yaml", sha256="b" * 64,
                     status="applied"),
    ])
    await log_in(console.http, "op")
    page = (await console.http.get("/config")).text
    assert "Bị từ chối" in page and "Đã áp dụng" in page
    assert "config/hotline.yaml:112 branches[3].desks[0]: bad" in page
    assert page.index("b" * 12) < page.index("a" * 12)  # newest first
    assert "07/12/2026 11:00" in page


async def test_a_bad_upload_shows_config_checks_messages_and_writes_nothing(
    console: Console,
) -> None:
    await log_in(console.http, "admin")
    answer = await _upload(console, BAD)
    assert answer.status_code == 422
    assert "moi.yaml:112 branches[3].desks[0]:" in html.unescape(answer.text)
    assert "Tệp chưa được ghi." in answer.text
    assert 'action="/config/apply"' not in answer.text
    assert console.path.read_bytes() == GOOD


async def test_applying_a_tampered_file_is_refused_and_writes_nothing(console: Console) -> None:
    await log_in(console.http, "admin")
    token = await csrf_of(console.http, "/config")
    answer = await console.http.post("/config/apply", data={
        "csrf_token": token, "name": "moi.yaml",
        "yaml_b64": base64.b64encode(BAD).decode()})
    assert answer.status_code == 422
    assert console.path.read_bytes() == GOOD


async def test_a_good_upload_is_applied_atomically_keeping_the_mode_and_audited(
    console: Console,
) -> None:
    new = GOOD.replace("Tổng đài".encode(), "Tổng đài mới".encode(), 1)
    assert new != GOOD
    inode = console.path.stat().st_ino
    await log_in(console.http, "admin")
    checked = await _upload(console, new)
    assert checked.status_code == 200
    assert "moi.yaml: hợp lệ" in checked.text
    assert console.path.read_bytes() == GOOD  # checking writes nothing
    token = _hidden(checked.text, "csrf_token")
    applied = await console.http.post("/config/apply", data={
        "csrf_token": token, "name": _hidden(checked.text, "name"),
        "yaml_b64": _hidden(checked.text, "yaml_b64")})
    assert applied.status_code == 303
    assert applied.headers["location"].startswith("/config?applied=")
    assert console.path.read_bytes() == new
    assert stat.S_IMODE(console.path.stat().st_mode) == 0o600
    assert console.path.stat().st_ino != inode  # a new file renamed over, not rewritten
    assert [p.name for p in console.path.parent.iterdir()] == ["hotline.yaml"]
    page = await console.http.get(applied.headers["location"])
    assert "Đã ghi tệp cấu hình mới" in page.text
    assert "Các lần nạp lại cấu hình" in page.text
    audit = [e for e in await console.users.recent_audit() if e.action == "config_applied"]
    assert len(audit) == 1 and audit[0].username == "admin"
    assert str(console.path) in audit[0].detail


async def test_an_upload_without_a_file_is_answered_with_a_message(console: Console) -> None:
    await log_in(console.http, "admin")
    token = await csrf_of(console.http, "/config")
    answer = await console.http.post("/config/check", data={"csrf_token": token},
                                     files={"other": ("x.txt", b"", "text/plain")})
    assert answer.status_code == 400
    assert "Vui lòng chọn một tệp YAML" in answer.text


async def test_an_operator_sees_no_upload_form_and_is_refused_both_posts(
    console: Console,
) -> None:
    await log_in(console.http, "op")
    page = await console.http.get("/config")
    assert page.status_code == 200
    assert 'action="/config/check"' not in page.text
    token = _hidden(page.text, "csrf_token")
    checked = await console.http.post("/config/check", data={"csrf_token": token},
                                      files={"file": ("moi.yaml", GOOD, "application/yaml")})
    assert checked.status_code == 403
    applied = await console.http.post("/config/apply", data={
        "csrf_token": token, "name": "moi.yaml", "yaml_b64": base64.b64encode(GOOD).decode()})
    assert applied.status_code == 403
    assert console.path.read_bytes() == GOOD


@pytest.mark.parametrize("username", ["xem", "tc"])
async def test_viewers_and_agency_users_are_refused_the_configuration(
    console: Console, username: str,
) -> None:
    await log_in(console.http, username)
    assert (await console.http.get("/config")).status_code == 403
    token = await csrf_of(console.http, "/")
    answer = await console.http.post("/config/check", data={"csrf_token": token},
                                     files={"file": ("moi.yaml", GOOD, "application/yaml")})
    assert answer.status_code == 403


async def test_an_apply_without_the_csrf_token_is_refused(console: Console) -> None:
    await log_in(console.http, "admin")
    answer = await console.http.post("/config/apply", data={
        "name": "moi.yaml", "yaml_b64": base64.b64encode(GOOD).decode()})
    assert answer.status_code == 403
    assert console.path.read_bytes() == GOOD
