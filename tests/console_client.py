"""The console app in process for tests: an httpx client over ASGITransport (no socket),
with helpers to read the CSRF token and log in."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import httpx
from starlette.applications import Starlette

from calllog.users import Role, Users
from console.app import create_app
from console.passwords import hash_password
from routing.clock import Clock
from routing.config import HotlineConfig, load_config

ROOT = Path(__file__).resolve().parents[1]
SECRET = "test-console-secret-0123456789"
PASSWORD = "mật khẩu đủ dài 2026"
CLIENT_ADDRESS = "192.0.2.10"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@functools.cache
def hotline_config() -> HotlineConfig:
    return load_config(ROOT / "config" / "hotline.yaml")


def console_app(users: Users, clock: Clock) -> Starlette:
    return create_app(users=users, config=hotline_config(), clock=clock, secret=SECRET)


def client(app: Starlette, address: str = CLIENT_ADDRESS,
           base_url: str = "http://console.test") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)),
                             base_url=base_url)


async def add_user(users: Users, clock: Clock, username: str, role: Role,
                   agency: str | None = None, password: str = PASSWORD) -> None:
    await users.add(username, role, agency, _hash(password), at=clock.now())


@functools.cache
def _hash(password: str) -> str:
    """argon2 is slow on purpose: one hash per password for the whole suite."""
    return hash_password(password)


async def csrf_of(http: httpx.AsyncClient, path: str = "/login") -> str:
    page = await http.get(path)
    found = _TOKEN.search(page.text)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


async def log_in(http: httpx.AsyncClient, username: str,
                 password: str = PASSWORD) -> httpx.Response:
    token = await csrf_of(http)
    return await http.post("/login", data={"username": username, "password": password,
                                           "csrf_token": token})
