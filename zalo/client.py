"""A thin async client of the Zalo APIs we use: a reply to a follower (`cs` message), a
ZNS template by phone, the token refresh, and the OA's profile (a harmless read for
`hotline zalo check`). httpx, every base URL from settings (`ZaloEndpoints`).

An expired access token (`-216`) met in the middle of a call is refreshed once and the
call made once more. A ZNS send is keyed by our `tracking_id`: one Zalo accepted is
never made again, and one that fails for a passing reason (network, 5xx, 429) is retried
with exponential backoff under the same tracking id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import structlog
from pydantic import BaseModel, ValidationError

from calllog.zalo import NewTokens, SendStatus, TokenPair, ZaloSends
from routing.clock import Clock
from zalo.contract import (
    ACCESS_TOKEN_HEADER,
    ACCESS_TOKEN_LIFETIME,
    BUSINESS_URL,
    CS_MESSAGE_PATH,
    ERROR_TOKEN_EXPIRED,
    OA_PROFILE_PATH,
    OAUTH_URL,
    OPENAPI_URL,
    REFRESH_TOKEN_LIFETIME,
    REFRESH_TOKEN_REFUSED,
    SECRET_KEY_HEADER,
    TOKEN_PATH,
    ZNS_TEMPLATE_PATH,
)
from zalo.models import ApiAnswer, CsMessageRequest, Recipient, TextMessage, TokenAnswer, ZnsRequest
from zalo.phones import normalise_mobile
from zalo.tokens import RefreshRefused, TokenKeeper, expires_at

log = structlog.get_logger("zalo.client")

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class ZaloEndpoints:
    openapi: str = OPENAPI_URL
    oauth: str = OAUTH_URL
    business: str = BUSINESS_URL


@dataclass(frozen=True)
class ZaloCredentials:
    app_id: str
    app_secret: str = field(repr=False)
    """The app's secret key: the token endpoint's `secret_key` header."""


@dataclass(frozen=True)
class Backoff:
    attempts: int = 4
    first_delay: float = 2.0
    factor: float = 2.0


class ZaloApiError(Exception):
    """Zalo answered with an error code (Zalo's own message; no data of ours)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"Zalo error {code}: {message}")
        self.code = code


class ZaloUnavailable(Exception):
    """No usable answer (network, timeout, HTTP 5xx or 429): worth trying again later."""


@dataclass(frozen=True)
class Sent:
    msg_id: str | None
    repeated: bool = False
    """A ZNS send Zalo had already accepted under this tracking id: not made again."""


@dataclass(frozen=True)
class OaProfile:
    oa_id: str
    name: str


class ZaloClient:
    def __init__(
        self, http: httpx.AsyncClient, endpoints: ZaloEndpoints, credentials: ZaloCredentials,
        tokens: TokenKeeper, clock: Clock, *, sends: ZaloSends | None = None,
        backoff: Backoff = Backoff(), sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._http = http
        self._endpoints = endpoints
        self._credentials = credentials
        self._tokens = tokens
        self._clock = clock
        self._sends = sends
        self._backoff = backoff
        self._sleep = sleep

    async def send_text(self, user_id: str, text: str) -> Sent:
        """A `cs` reply to a follower (the 48-hour window is `zalo.replies`' to check)."""
        body = CsMessageRequest(recipient=Recipient(user_id=user_id),
                                message=TextMessage(text=text))
        url = self._endpoints.openapi + CS_MESSAGE_PATH
        answer = await self._with_token(lambda token: self._post(url, body, token))
        return Sent(answer.msg_id)

    async def send_template(
        self, phone: str, template_id: str, data: dict[str, str], tracking_id: str
    ) -> Sent:
        """A ZNS template to a mobile number (any usual form; `NotAMobileNumber` else)."""
        body = ZnsRequest(phone=normalise_mobile(phone), template_id=template_id,
                          template_data=data, tracking_id=tracking_id)
        if self._sends is not None:
            record = await self._sends.begin(tracking_id, template_id, self._clock.now())
            if record.status in (SendStatus.SENT, SendStatus.DELIVERED):
                return Sent(record.msg_id, repeated=True)
        url = self._endpoints.business + ZNS_TEMPLATE_PATH
        delay = self._backoff.first_delay
        for attempt in range(1, self._backoff.attempts + 1):
            last = attempt == self._backoff.attempts
            try:
                answer = await self._with_token(lambda token: self._post(url, body, token))
            except ZaloUnavailable as exc:
                await self._send_failed(tracking_id, str(exc), give_up=last)
                if last:
                    raise
                log.warning("zns send failed, retrying", tracking_id=tracking_id,
                            attempt=attempt, delay=delay, error=str(exc))
                await self._sleep(delay)
                delay *= self._backoff.factor
                continue
            except ZaloApiError as exc:
                await self._send_failed(tracking_id, str(exc), give_up=True)
                raise
            if self._sends is not None:
                await self._sends.sent(tracking_id, answer.msg_id or "", self._clock.now())
            log.info("zns sent", tracking_id=tracking_id, template=template_id,
                     attempts=attempt)
            return Sent(answer.msg_id)
        raise AssertionError("unreachable")

    async def oa_profile(self) -> OaProfile:
        url = self._endpoints.openapi + OA_PROFILE_PATH
        answer = await self._with_token(lambda token: self._get(url, token))
        data = answer.data or {}
        return OaProfile(oa_id=str(data.get("oa_id", "")), name=str(data.get("name", "")))

    async def refresh_tokens(self, *, replacing: TokenPair | None = None) -> TokenPair:
        return await self._tokens.refresh(self._exchange, replacing=replacing)

    async def _with_token(
        self, call: Callable[[str], Awaitable[ApiAnswer]]
    ) -> ApiAnswer:
        pair = await self._tokens.current()
        if pair.access_expires_at <= self._clock.now():
            pair = await self.refresh_tokens(replacing=pair)
        answer = await call(pair.access_token)
        if answer.error == ERROR_TOKEN_EXPIRED:
            log.info("zalo access token expired during a call: refreshing, then once more",
                     pair=pair.id)
            pair = await self.refresh_tokens(replacing=pair)
            answer = await call(pair.access_token)
        if answer.error != 0:
            raise ZaloApiError(answer.error, answer.message)
        return answer

    async def _post(self, url: str, body: BaseModel, token: str) -> ApiAnswer:
        return await self._answer(lambda: self._http.post(
            url, content=body.model_dump_json(), headers={
                ACCESS_TOKEN_HEADER: token, "Content-Type": "application/json"}))

    async def _get(self, url: str, token: str) -> ApiAnswer:
        return await self._answer(lambda: self._http.get(
            url, headers={ACCESS_TOKEN_HEADER: token}))

    async def _answer(self, request: Callable[[], Awaitable[httpx.Response]]) -> ApiAnswer:
        response = await _respond(request)
        try:
            return ApiAnswer.model_validate_json(response.content)
        except ValidationError:
            raise ZaloUnavailable(f"HTTP {response.status_code}: not a Zalo answer") from None

    async def _exchange(self, refresh_token: str) -> NewTokens:
        """Present the refresh token (single-use) to the token endpoint."""
        response = await _respond(lambda: self._http.post(
            self._endpoints.oauth + TOKEN_PATH,
            headers={SECRET_KEY_HEADER: self._credentials.app_secret},
            data={"app_id": self._credentials.app_id, "grant_type": "refresh_token",
                  "refresh_token": refresh_token}))
        try:
            answer = TokenAnswer.model_validate_json(response.content)
        except ValidationError:
            raise ZaloUnavailable(
                f"token endpoint HTTP {response.status_code}: not a Zalo answer") from None
        if not answer.access_token or not answer.refresh_token:
            error = f"Zalo error {answer.error} {answer.error_name or ''}".strip()
            if answer.error in REFRESH_TOKEN_REFUSED:
                raise RefreshRefused(error)
            # A wrong app secret, an empty or a proxy's answer: the token is kept.
            raise ZaloUnavailable(f"token endpoint HTTP {response.status_code}: {error}")
        now = self._clock.now()
        return NewTokens(
            access_token=answer.access_token, refresh_token=answer.refresh_token,
            access_expires_at=expires_at(now, answer.expires_in, ACCESS_TOKEN_LIFETIME),
            refresh_expires_at=now + REFRESH_TOKEN_LIFETIME)

    async def _send_failed(self, tracking_id: str, error: str, *, give_up: bool) -> None:
        if self._sends is not None:
            await self._sends.attempt_failed(tracking_id, error, give_up=give_up)


async def _respond(request: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
    try:
        response = await request()
    except httpx.TransportError as exc:
        raise ZaloUnavailable(f"{type(exc).__name__}") from None
    if response.status_code >= 500 or response.status_code == 429:
        raise ZaloUnavailable(f"HTTP {response.status_code}")
    return response
