"""The console's settings: host and port, secure cookies, and its session secret made by
`hotline secrets init` (also added to a secrets file made before the console existed)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from hotline.console_wiring import ConsoleSetupError, console_secret, console_url
from hotline.settings import Settings, init_secrets_file, load_settings, read_secrets_file


def test_the_console_listens_on_loopback_8080_by_default() -> None:
    settings = load_settings({"HOTLINE_SECRETS_FILE": "/nonexistent"})
    assert (settings.console_host, settings.console_port) == ("127.0.0.1", 8080)
    assert not settings.console_secure_cookies
    assert console_url(settings) == "http://127.0.0.1:8080/"


def test_host_port_and_secure_cookies_come_from_the_environment() -> None:
    settings = load_settings({"HOTLINE_SECRETS_FILE": "/nonexistent",
                              "HOTLINE_CONSOLE_HOST": "::1", "HOTLINE_CONSOLE_PORT": "9090",
                              "HOTLINE_CONSOLE_SECURE_COOKIES": "1"})
    assert settings.console_secure_cookies
    assert console_url(settings) == "http://[::1]:9090/"


def test_secrets_init_makes_a_private_console_secret(tmp_path: Path) -> None:
    path = tmp_path / "secrets.env"
    assert init_secrets_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = read_secrets_file(path)["console_secret"]
    settings = load_settings({"HOTLINE_SECRETS_FILE": str(path)})
    assert console_secret(settings) == secret and len(secret) >= 16


def test_secrets_init_adds_the_console_secret_to_an_older_file(tmp_path: Path) -> None:
    path = tmp_path / "secrets.env"
    path.write_text("ARI_PASSWORD=a\nAMI_PASSWORD=b\nSIP_SECRET=c", encoding="utf-8")
    assert not init_secrets_file(path)
    values = read_secrets_file(path)
    assert values["sip_secret"] == "c" and values["ari_password"] == "a"
    assert len(values["console_secret"]) >= 16
    before = path.read_text(encoding="utf-8")
    init_secrets_file(path)
    assert path.read_text(encoding="utf-8") == before  # nothing more to add


def test_the_console_refuses_to_start_without_a_secret() -> None:
    with pytest.raises(ConsoleSetupError, match="hotline secrets init"):
        console_secret(Settings())
