"""An in-process fake of the Zalo APIs (an httpx `MockTransport`) and signed webhook
events from the recorded examples in `tests/data/zalo/`.

It keeps Zalo's rules as the contract states them: access tokens expire (answer -216),
a refresh token works once, ZNS takes `84...` numbers. Old access tokens stay valid
until their own expiry after a refresh (nothing public says a refresh revokes them).
Failures can be scripted: the next ZNS sends answer 503, a token is expired now.
`serving(fake)` puts it on a real loopback port, for a console run as a process.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import httpx

from calllog.zalo import NewTokens
from routing.clock import Clock

DATA = Path(__file__).parent / "data" / "zalo"
APP_ID = "4321098765432109876"
APP_SECRET = "app-secret-for-tests-only"
OA_SECRET_KEY = "oa-secret-key-for-tests-only"
OA_ID = "1357924680135792468"
USER_ID = "2468013579246801357"
OA_NAME = "Phản ánh về thủ tục hành chính (TTHC) Hậu Giang"
EVENTS = ("user_send_text", "user_send_image", "user_send_file", "follow", "unfollow",
          "user_feedback", "user_received_message", "oa_send_text", "user_submit_info")


def event_body(name: str, **changes: object) -> bytes:
    """A recorded event's raw body, with top-level fields changed."""
    payload = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    payload.update(changes)
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def sign(body: bytes, *, app_id: str = APP_ID, secret: str = OA_SECRET_KEY) -> str:
    """The X-ZEvent-Signature header value, computed here independently of zalo/."""
    timestamp = str(json.loads(body)["timestamp"])
    mac = hashlib.sha256(app_id.encode() + body + timestamp.encode() + secret.encode())
    return f"mac={mac.hexdigest()}"


@dataclass
class FakeZalo:
    clock: Clock
    access: dict[str, float] = field(default_factory=dict)
    """Valid access tokens -> expiry (epoch seconds of the clock)."""
    refresh: set[str] = field(default_factory=set)
    spent: set[str] = field(default_factory=set)
    cs_messages: list[dict[str, object]] = field(default_factory=list)
    zns_requests: list[dict[str, object]] = field(default_factory=list)
    refreshes: list[str] = field(default_factory=list)
    """Refresh tokens presented, in order."""
    zns_failures: int = 0
    """The next this many ZNS requests answer HTTP 503."""
    cs_failures: int = 0
    """The next this many `cs` messages answer HTTP 503."""
    _issued: int = 0

    def grant(self, lifetime_s: float = 90000) -> NewTokens:
        """A freshly authorised pair (what an administrator would get)."""
        access, refresh = self._issue(lifetime_s)
        now = self.clock.now()
        return NewTokens(access, refresh, now + timedelta(seconds=lifetime_s),
                         now + timedelta(days=90))

    def expire(self, token: str) -> None:
        self.access[token] = 0.0

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def _issue(self, lifetime_s: float) -> tuple[str, str]:
        self._issued += 1
        access, refresh = f"A{self._issued}", f"R{self._issued}"
        self.access[access] = self.clock.now().timestamp() + lifetime_s
        self.refresh.add(refresh)
        return access, refresh

    def _token_ok(self, request: httpx.Request) -> bool:
        expiry = self.access.get(request.headers.get("access_token", ""))
        return expiry is not None and expiry > self.clock.now().timestamp()

    def handle(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        match (url.host, url.path):
            case (_, "/v4/oa/access_token"):
                return self._refresh(request)
            case (_, "/v3.0/oa/message/cs"):
                if self.cs_failures > 0:
                    self.cs_failures -= 1
                    return httpx.Response(503, text="Service Unavailable")
                if not self._token_ok(request):
                    return _error(-216, "Access token is invalid")
                body = json.loads(request.content)
                self.cs_messages.append(body)
                return httpx.Response(200, json={
                    "error": 0, "message": "Success",
                    "data": {"message_id": f"cs{len(self.cs_messages)}",
                             "user_id": body["recipient"]["user_id"]}})
            case (_, "/v2.0/oa/getoa"):
                if not self._token_ok(request):
                    return _error(-216, "Access token is invalid")
                return httpx.Response(200, json={"error": 0, "message": "Success", "data": {
                    "oa_id": OA_ID, "name": OA_NAME, "num_follower": 1024}})
            case (_, "/message/template"):
                body = json.loads(request.content)
                self.zns_requests.append(body)
                if self.zns_failures > 0:
                    self.zns_failures -= 1
                    return httpx.Response(503, text="Service Unavailable")
                if not self._token_ok(request):
                    return _error(-216, "Access token is invalid")
                return httpx.Response(200, json={"error": 0, "message": "Success", "data": {
                    "msg_id": f"zns{len(self.zns_requests)}",
                    "sent_time": str(int(self.clock.now().timestamp() * 1000))}})
        return httpx.Response(404, text="not faked")

    def _refresh(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if request.headers.get("secret_key") != APP_SECRET or form.get("app_id") != APP_ID:
            return httpx.Response(200, json={"error": -14002, "error_name": "Invalid app"})
        token = form.get("refresh_token", "")
        self.refreshes.append(token)
        if form.get("grant_type") != "refresh_token" or token not in self.refresh:
            return httpx.Response(200, json={"error": -14014,
                                             "error_name": "Invalid refresh token"})
        self.refresh.discard(token)
        self.spent.add(token)
        access, refresh = self._issue(90000)
        return httpx.Response(200, json={"access_token": access, "refresh_token": refresh,
                                         "expires_in": "90000"})


def _error(code: int, message: str) -> httpx.Response:
    return httpx.Response(200, json={"error": code, "message": message})


@contextlib.contextmanager
def serving(fake: FakeZalo) -> Iterator[str]:
    """`fake` as a real HTTP server on loopback, for a console run as its own process:
    its base URL (the same for the OA, OAuth and ZNS settings; the fake answers by path)."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = httpx.Request(self.command, f"http://127.0.0.1{self.path}",
                                    headers=dict(self.headers.items()),
                                    content=self.rfile.read(length))
            response = fake.handle(request)
            self.send_response(response.status_code)
            self.send_header("Content-Type", response.headers.get("Content-Type", "text/plain"))
            self.send_header("Content-Length", str(len(response.content)))
            self.end_headers()
            self.wfile.write(response.content)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
