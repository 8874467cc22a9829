"""The call-back trunk (issue 17, item 2): an endpoint named in the YAML, generated for
Asterisk with a context that only hangs up, and no dialplan context that can dial it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dialplan.generate import render_extensions, render_pjsip_desks
from hotline import cli
from routing.config import ConfigError, HotlineConfig, load_config, parse_config
from routing.trail import CALLBACK_TRUNK_CONTEXT
from tests.unit.test_dialplan_generate import contexts

SHIPPED = "config/hotline.yaml"


def with_callback(**callback: Any) -> HotlineConfig:
    data = yaml.safe_load(Path(SHIPPED).read_text(encoding="utf-8"))
    data["callback"] = callback
    return parse_config(yaml.safe_dump(data, allow_unicode=True), Path("hotline.yaml"))


def test_call_backs_are_off_until_a_trunk_is_named() -> None:
    config = load_config(SHIPPED)
    assert not config.callback.enabled
    assert CALLBACK_TRUNK_CONTEXT not in render_pjsip_desks(config, "s")


def test_the_trunk_is_an_endpoint_whose_calls_in_reach_a_hang_up_only() -> None:
    config = with_callback(trunk="pstn", contact="sip:10.0.0.9:5060")
    pjsip = render_pjsip_desks(config, "secret")
    section = pjsip[pjsip.index("[pstn](hotline-media)"):]
    assert f"context = {CALLBACK_TRUNK_CONTEXT}" in section
    assert "contact = sip:10.0.0.9:5060" in section
    assert "pstn-auth" not in pjsip  # a fixed address needs no registration
    # Nothing from outside is identified as the trunk: not by user name (an INVITE
    # "From: pstn@..." from anywhere), and no [identify] section.
    assert "identify_by = ip" in section.split("\n[", 1)[0]
    assert "type = identify" not in pjsip
    trunk_context = contexts(render_extensions(config, "/s"))[CALLBACK_TRUNK_CONTEXT]
    assert trunk_context == ["exten => s,1,Hangup(21)", "exten => i,1,Hangup(21)",
                             "exten => _[0-9*#+].,1,Hangup(21)"]


def test_without_a_contact_the_provider_registers_with_the_trunk_name() -> None:
    pjsip = render_pjsip_desks(with_callback(trunk="pstn"), "secret")
    assert "auth = pstn-auth" in pjsip and "max_contacts = 1" in pjsip
    assert "identify_by" not in pjsip  # it registers and authenticates by its name


def test_no_dialplan_context_can_dial_the_trunk() -> None:
    extensions = render_extensions(with_callback(trunk="pstn"), "/s")
    dials = [line for line in extensions.splitlines() if re.search(r"\bDial\(", line)]
    assert dials, "the dialplan dials desks"
    assert not [line for line in dials if "pstn" in line or "@" in line]
    assert not re.search(r"PJSIP/[^,)&]*@", extensions)
    assert "pstn" not in extensions


@pytest.mark.parametrize(("callback", "field"), [
    ({"trunk": "trunk"}, "callback.trunk"),  # the public trunk's own endpoint
    ({"trunk": "Pstn;x"}, "callback.trunk"),
    ({"trunk": "pstn", "contact": "sip:host\n[x]"}, "callback.contact"),
    ({"trunk": "pstn", "key": "*"}, "callback.key"),
    ({"trunk": "pstn", "allowed": ["09[0-9"]}, "callback.allowed"),
    ({"trunk": "pstn", "attempts": 0}, "callback.attempts"),
])
def test_hotline_check_refuses_a_bad_callback_section(callback: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as refused:
        with_callback(**callback)
    assert field in str(refused.value)


def test_defaults() -> None:
    settings = with_callback(trunk="pstn").callback
    assert (settings.key, settings.attempts, settings.retry_seconds) == ("1", 3, 120)
    assert settings.allowed == [r"0[35789][0-9]{8}", r"02[0-9]{9}"]


def test_hotline_check_names_the_trunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    # As tests/unit/test_routing_config.py's `check`: no structlog set-up (it would keep
    # pytest's captured output after the test) and a clean environment.
    for name in ("HOTLINE_CONFIG", "HOTLINE_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOTLINE_SECRETS_FILE", str(tmp_path / "no-secrets.env"))
    monkeypatch.setattr(cli, "_configure_logging", lambda level: None)
    data = yaml.safe_load(Path(SHIPPED).read_text(encoding="utf-8"))
    data["callback"] = {"trunk": "pstn", "contact": "sip:10.0.0.9"}
    path = tmp_path / "hotline.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert cli.main(["config", "check", str(path)]) == 0
    assert "call-backs through trunk pstn (key 1, 3 tries)" in capsys.readouterr().out
