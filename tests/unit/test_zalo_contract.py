"""The webhook signature (vectors: good, bad, stale, missing parts, altered body), the
events' keys and user ids, mobile numbers for ZNS, and the 48-hour reply window."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.clock import MONDAY_9AM_ICT
from tests.zalo_fake import APP_ID, EVENTS, OA_SECRET_KEY, USER_ID, event_body, sign
from zalo.contract import Refused, Rejection, VerifiedEvent, signature, verify_event
from zalo.models import WebhookEvent
from zalo.phones import NotAMobileNumber, normalise_mobile
from zalo.window import free_reply_refused

WINDOW = timedelta(minutes=5)


def verify(body: bytes, header: str | None, *, now_shift: timedelta = timedelta()) -> object:
    return verify_event(body, header, app_id=APP_ID, oa_secret_key=OA_SECRET_KEY,
                        now=MONDAY_9AM_ICT + now_shift, max_age=WINDOW)


def test_signature_vector_is_plain_sha256_of_app_id_body_timestamp_secret() -> None:
    # Worked by hand: sha256(b'app' + b'{"timestamp":"1000"}' + b'1000' + b'key').
    body = b'{"timestamp":"1000"}'
    assert signature("app", body, "1000", "key") == (
        "59a48af1e4c2b5b4319a9c20900f4181822c2301ff770bce06137386c1155d76")


def test_recorded_event_vector() -> None:
    body = (event_body("user_send_text"))
    assert sign(body) == "mac=" + signature(APP_ID, body, "1767578400000", OA_SECRET_KEY)


def test_good_signature_is_accepted_with_the_events_own_time() -> None:
    body = event_body("user_send_text")
    verdict = verify(body, sign(body))
    assert isinstance(verdict, VerifiedEvent)
    assert verdict.at == MONDAY_9AM_ICT
    assert verdict.payload["event_name"] == "user_send_text"


def test_uppercase_hex_and_a_numeric_timestamp_are_accepted() -> None:
    body = event_body("follow", timestamp=1767578400000)
    header = sign(body).upper().replace("MAC=", "mac=")
    assert isinstance(verify(body, header), VerifiedEvent)


@pytest.mark.parametrize(("header", "reason"), [
    (None, Rejection.MISSING_SIGNATURE),
    ("", Rejection.MISSING_SIGNATURE),
    ("sha256=abc", Rejection.MALFORMED_SIGNATURE),
    ("mac=" + "0" * 63, Rejection.MALFORMED_SIGNATURE),
    ("mac=" + "0" * 64, Rejection.BAD_SIGNATURE),
])
def test_missing_malformed_and_bad_signatures_are_refused(
    header: str | None, reason: Rejection
) -> None:
    verdict = verify(event_body("user_send_text"), header)
    assert isinstance(verdict, Refused) and verdict.reason is reason


def test_a_signature_made_with_another_secret_is_refused() -> None:
    body = event_body("user_send_text")
    verdict = verify(body, sign(body, secret="the app secret, not the OA's"))
    assert isinstance(verdict, Refused) and verdict.reason is Rejection.BAD_SIGNATURE


def test_an_altered_body_is_refused() -> None:
    body = event_body("user_send_text")
    header = sign(body)
    altered = body.replace("hồ sơ".encode(), "hồ sơ giả".encode(), 1)
    assert altered != body
    verdict = verify(altered, header)
    assert isinstance(verdict, Refused) and verdict.reason is Rejection.BAD_SIGNATURE


def test_missing_or_bad_timestamp_is_refused_and_named() -> None:
    body = b'{"event_name":"follow","app_id":"4321098765432109876"}'
    verdict = verify(body, "mac=" + "a" * 64)
    assert isinstance(verdict, Refused) and verdict.reason is Rejection.MISSING_TIMESTAMP
    body = event_body("follow", timestamp="yesterday")
    verdict = verify(body, "mac=" + "a" * 64)
    assert isinstance(verdict, Refused) and verdict.reason is Rejection.BAD_TIMESTAMP
    verdict = verify(b"not json", "mac=" + "a" * 64)
    assert isinstance(verdict, Refused) and verdict.reason is Rejection.NOT_JSON


def test_json_nested_thousands_deep_is_refused_as_not_json() -> None:
    verdict = verify(b"[" * 100_000, "mac=" + "0" * 64)
    assert isinstance(verdict, Refused) and verdict.reason is Rejection.NOT_JSON


@pytest.mark.parametrize("timestamp", ["9999999999999999", 10**20, 9999999999999999])
def test_a_signed_timestamp_past_any_date_is_a_bad_timestamp(timestamp: object) -> None:
    body = event_body("follow", timestamp=timestamp)
    verdict = verify(body, sign(body))
    assert isinstance(verdict, Refused) and verdict.reason is Rejection.BAD_TIMESTAMP


@pytest.mark.parametrize("shift", [timedelta(minutes=5, seconds=1), -timedelta(minutes=6)])
def test_stale_or_future_timestamp_is_refused_as_a_replay(shift: timedelta) -> None:
    body = event_body("user_send_text")
    verdict = verify(body, sign(body), now_shift=shift)
    assert isinstance(verdict, Refused) and verdict.reason is Rejection.STALE_TIMESTAMP
    assert verdict.detail == (f"{abs(shift.total_seconds()):.0f} s "
                              f"{'old' if shift > timedelta() else 'ahead'}, limit 300 s")


def test_within_the_window_is_accepted() -> None:
    body = event_body("user_send_text")
    assert isinstance(verify(body, sign(body), now_shift=timedelta(minutes=4)), VerifiedEvent)


def test_no_refusal_ever_names_the_secret() -> None:
    body = event_body("user_send_text")
    for header in (None, "x", "mac=" + "0" * 64):
        verdict = verify(body, header)
        assert isinstance(verdict, Refused)
        assert OA_SECRET_KEY not in f"{verdict.reason.value} {verdict.detail} {verdict!r}"


@pytest.mark.parametrize("name", EVENTS)
def test_every_recorded_event_parses_with_its_user_and_a_stable_key(name: str) -> None:
    event = WebhookEvent.model_validate_json(event_body(name))
    assert event.event_name == name
    assert event.user_id == USER_ID
    assert event.key == WebhookEvent.model_validate_json(event_body(name)).key
    assert event.key.startswith(f"{name}:")


def test_follow_events_without_a_message_id_are_keyed_by_user_and_time() -> None:
    follow = WebhookEvent.model_validate_json(event_body("follow"))
    again = WebhookEvent.model_validate_json(event_body("follow", timestamp="1767578999000"))
    assert follow.key == f"follow:{USER_ID}:1767578100000"
    assert again.key != follow.key


@pytest.mark.parametrize("number", [
    "0912345678", "+84912345678", "84912345678", "091 234 5678", "0084912345678",
    "091.234.5678",
])
def test_mobile_numbers_are_normalised_to_84(number: str) -> None:
    assert normalise_mobile(number) == "84912345678"


@pytest.mark.parametrize("number", [
    "02933123456",  # Hậu Giang landline
    "842933123456",
    "091234567",  # too short
    "09123456789",  # too long
    "0912abc678",
    "",
    "0112345678",  # no such prefix
])
def test_landlines_and_invalid_numbers_are_refused_for_zns(number: str) -> None:
    with pytest.raises(NotAMobileNumber):
        normalise_mobile(number)


def test_a_free_reply_is_allowed_within_48_hours_of_the_last_message() -> None:
    last = MONDAY_9AM_ICT
    assert free_reply_refused(last, last + timedelta(hours=47, minutes=59)) is None
    assert free_reply_refused(last, last + timedelta(hours=48)) is None


def test_after_48_hours_the_reason_is_vietnamese_with_the_local_time() -> None:
    refused = free_reply_refused(MONDAY_9AM_ICT, MONDAY_9AM_ICT + timedelta(hours=48, seconds=1))
    assert refused is not None
    assert "09:00 05/01/2026" in refused.reason
    assert "48 giờ" in refused.reason


def test_no_message_from_the_citizen_means_no_free_reply() -> None:
    refused = free_reply_refused(None, MONDAY_9AM_ICT)
    assert refused is not None and "chưa nhắn tin" in refused.reason
