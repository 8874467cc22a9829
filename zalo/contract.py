"""What we rely on of Zalo's contract, in one place, each fact with where it comes from.

Zalo's own pages (developers.zalo.me) cannot be reached from the machines this was
built on, so these facts come from public secondary sources, named at each one, and
from issue 16, which states them as below. Where the community disagrees (the webhook
signature above all), the issue's statement is followed. Tests check each fact here
with vectors; a province that finds Zalo doing otherwise changes it here only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

# --- base URLs (the defaults of the HOTLINE_ZALO_*_URL settings) ---------------------
# OA API and token endpoint: hexasync.vn, "Zalo OA API: Hướng dẫn cách lấy Access Token
# từ Refresh token" (https://www.hexasync.vn/zalo-oa-api-huong-dan-cach-lay-access-token-tu-refresh-token/)
# and beehexa.com/devdocs/zalo-oa-tutorial-creating-access-token. ZNS: the endpoints
# table of the @warriorteam/redai-zalo-sdk package (dist/services/zns.service.js,
# citing https://developers.zalo.me/docs/zalo-notification-service/).
OPENAPI_URL = "https://openapi.zalo.me"
OAUTH_URL = "https://oauth.zaloapp.com"
BUSINESS_URL = "https://business.openapi.zalo.me"

# --- endpoints (paths under the base URLs) -------------------------------------------
CS_MESSAGE_PATH = "/v3.0/oa/message/cs"
"""POST, header `access_token`, JSON {"recipient": {"user_id"}, "message": {"text"}}: a
reply to a follower (issue 16; the same URL in public Next.js webhook examples)."""
OA_PROFILE_PATH = "/v2.0/oa/getoa"
"""GET, header `access_token`: the OA's own profile. Read-only: `hotline zalo check`."""
TOKEN_PATH = "/v4/oa/access_token"
"""POST on OAUTH_URL, header `secret_key` (the app's secret), form `app_id`,
`grant_type=refresh_token`, `refresh_token` (hexasync.vn, beehexa.com above)."""
ZNS_TEMPLATE_PATH = "/message/template"
"""POST on BUSINESS_URL, header `access_token`, JSON {phone: "84...", template_id,
template_data, tracking_id} (issue 16; redai-zalo-sdk above)."""

# --- headers ---------------------------------------------------------------------------
SIGNATURE_HEADER = "X-ZEvent-Signature"
"""On every webhook POST: `mac=<hex>` (issue 16; read as such by chatwoot's
app/controllers/webhooks/zalo_controller.rb)."""
ACCESS_TOKEN_HEADER = "access_token"
SECRET_KEY_HEADER = "secret_key"

# --- errors and lifetimes ----------------------------------------------------------------
ERROR_TOKEN_EXPIRED = -216
"""`error` of an OA API answer when the access token has expired (issue 16; the -2xx
codes are listed in CareSoft's table, doc.caresoft.vn/danh-sach-tinh-nang/zalo/
bang-ma-khi-gui-tin-nhan-theo-zalo-id)."""
REFRESH_TOKEN_REFUSED = frozenset({-14014})
"""Token endpoint errors that say the refresh token itself is spent, expired or unknown
("Invalid refresh token"). Any other answer without a new pair (a wrong app secret, an
empty or a proxy's answer) is no reason to give up a refresh token that may still be
good: the pair is kept and the refresh tried again later."""
ACCESS_TOKEN_LIFETIME = timedelta(hours=25)
"""hexasync.vn: "Access token của Zalo OA chỉ có hiệu lực trong vòng 25 tiếng". Used only
when an answer lacks `expires_in`."""
REFRESH_TOKEN_LIFETIME = timedelta(days=90)
"""hexasync.vn: the refresh token "chỉ có thể sử dụng 1 lần. Và có hiệu lực 3 tháng"."""
FREE_REPLY_WINDOW = timedelta(hours=48)
"""A free `cs` reply is allowed only within 48 hours of the user's last message (issue 16)."""


class EventName(StrEnum):
    """The webhook events we handle (issue 16; community payload types, e.g.
    laduchai2011/zalo5k backEnd/src/dataStruct/hookData/index.ts)."""

    USER_SEND_TEXT = "user_send_text"
    USER_SEND_IMAGE = "user_send_image"
    USER_SEND_FILE = "user_send_file"
    FOLLOW = "follow"
    UNFOLLOW = "unfollow"
    USER_FEEDBACK = "user_feedback"  # a ZNS rating template's answer
    USER_RECEIVED_MESSAGE = "user_received_message"  # a ZNS message delivered
    OA_SEND_TEXT = "oa_send_text"  # echo of our own send (every oa_* event is one)
    USER_SUBMIT_INFO = "user_submit_info"
    """The follower pressed "share information" on the OA's request card: `sender.id` and
    `info` {name, phone, address, city, district}. Community code: a Spring handler,
    vn.com.insee.corporate.event.UserSubmitInfoEvent, reads `sender.id`, `info.name`,
    `info.phone`, `info.city`; Vietnamese integration notes list it beside follow/unfollow.
    The phone's form (84... or 0...) varies there: `zalo.phones` normalises it."""


# --- the webhook signature ---------------------------------------------------------------


def signature(app_id: str, raw_body: bytes, timestamp: str, oa_secret_key: str) -> str:
    """The webhook's mac: hex SHA-256 (plain, not HMAC) of app_id + raw body + the event's
    own `timestamp` field (milliseconds, as written in the body) + the OA secret key.

    The formula as issue 16 states it; the same concatenation is documented in public
    community code ("Algorithm: sha256(appId + data + timestamp + OASecretKey)"). Other
    community code uses an HMAC, a header timestamp or the app secret: not followed.
    """
    material = app_id.encode() + raw_body + timestamp.encode() + oa_secret_key.encode()
    return hashlib.sha256(material).hexdigest()


class Rejection(StrEnum):
    """Why a webhook request was refused: which input was missing, bad or stale.
    Never the secret, never the body."""

    MISSING_SIGNATURE = f"no {SIGNATURE_HEADER} header"
    MALFORMED_SIGNATURE = f"{SIGNATURE_HEADER} is not mac=<64 hex digits>"
    NOT_JSON = "the body is not a JSON object"
    MISSING_TIMESTAMP = "the event has no timestamp field"
    BAD_TIMESTAMP = "the event's timestamp is not a number of milliseconds"
    BAD_SIGNATURE = "the signature does not match app_id + body + timestamp + OA secret key"
    STALE_TIMESTAMP = "the event's timestamp is outside the accepted window (replay?)"


@dataclass(frozen=True)
class VerifiedEvent:
    payload: dict[str, object]
    at: datetime
    """The event's own timestamp."""


@dataclass(frozen=True)
class Refused:
    reason: Rejection
    detail: str = ""
    """What was seen, safe to log: e.g. the timestamp's age."""


_MAC = re.compile(r"mac=([0-9a-fA-F]{64})")


def verify_event(
    raw_body: bytes, header: str | None, *, app_id: str, oa_secret_key: str,
    now: datetime, max_age: timedelta,
) -> VerifiedEvent | Refused:
    """Check a webhook request: its signature (in constant time), then its timestamp
    against `now` (older or further ahead than `max_age`: a replay, refused)."""
    if header is None or not header.strip():
        return Refused(Rejection.MISSING_SIGNATURE)
    match = _MAC.fullmatch(header.strip())
    if match is None:
        return Refused(Rejection.MALFORMED_SIGNATURE)
    try:
        payload = json.loads(raw_body)
    except (ValueError, RecursionError):  # RecursionError: nesting thousands deep
        return Refused(Rejection.NOT_JSON)
    if not isinstance(payload, dict):
        return Refused(Rejection.NOT_JSON)
    if "timestamp" not in payload:
        return Refused(Rejection.MISSING_TIMESTAMP)
    timestamp = _timestamp_text(payload["timestamp"])
    if timestamp is None:
        return Refused(Rejection.BAD_TIMESTAMP)
    expected = signature(app_id, raw_body, timestamp, oa_secret_key)
    if not hmac.compare_digest(expected.encode(), match.group(1).lower().encode()):
        return Refused(Rejection.BAD_SIGNATURE)
    at = event_time(int(timestamp))
    if at is None:
        return Refused(Rejection.BAD_TIMESTAMP)
    age = now - at
    if abs(age) > max_age:
        limit = max_age.total_seconds()
        seconds = abs(age.total_seconds())
        return Refused(Rejection.STALE_TIMESTAMP,
                       f"{seconds:.0f} s {'old' if age > timedelta() else 'ahead'}, "
                       f"limit {limit:.0f} s")
    return VerifiedEvent(payload, at)


def _timestamp_text(value: object) -> str | None:
    """The timestamp as it is written in the body (Zalo sends a string of digits;
    a JSON number is taken as its digits)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and 0 <= value < 10**16:
        return str(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 16:
        return value
    return None


def event_time(milliseconds: int) -> datetime | None:
    """The instant of a timestamp in milliseconds; None past what a datetime holds."""
    try:
        return datetime.fromtimestamp(milliseconds / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None
