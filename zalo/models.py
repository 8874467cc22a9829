"""Pydantic models of what crosses the boundary with Zalo: webhook events in, requests
out, answers back. Unknown fields are kept (Zalo adds fields; we must not refuse them)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from zalo.contract import EventName, event_time


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Party(_Open):
    id: str

    @field_validator("id", mode="before")
    @classmethod
    def _digits_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value


class Attachment(_Open):
    type: str
    payload: dict[str, object] = Field(default_factory=dict)


class EventMessage(_Open):
    msg_id: str | None = None
    text: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    # user_feedback (a ZNS rating) and user_received_message (a ZNS delivery)
    rate: int | None = None
    note: str | None = None
    feedbacks: list[str] = Field(default_factory=list)
    tracking_id: str | None = None


class SubmittedInfo(_Open):
    """What a follower shared in `user_submit_info` (each field may be missing)."""

    name: str | None = None
    phone: str | None = None
    address: str | None = None
    city: str | None = None
    district: str | None = None

    @field_validator("phone", mode="before")
    @classmethod
    def _digits_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value


class WebhookEvent(_Open):
    """One webhook event (the fields we use; the rest is kept as sent)."""

    event_name: str
    timestamp: str
    app_id: str | None = None
    oa_id: str | None = None
    user_id_by_app: str | None = None
    sender: Party | None = None
    recipient: Party | None = None
    follower: Party | None = None
    message: EventMessage | None = None
    info: SubmittedInfo | None = None

    @field_validator("timestamp", mode="before")
    @classmethod
    def _ms_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value

    @property
    def at(self) -> datetime:
        """The event's instant. Events reach a handler only once verified, and the check
        refuses a timestamp past any date: this raises for nothing Zalo signed."""
        at = event_time(int(self.timestamp))
        if at is None:
            raise ValueError(f"event timestamp {self.timestamp!r} is past any date")
        return at

    @property
    def from_user(self) -> bool:
        """Sent by the citizen (not an echo of ours, not a delivery report)."""
        return self.event_name.startswith("user_") and (
            self.event_name != EventName.USER_RECEIVED_MESSAGE)

    @property
    def user_id(self) -> str | None:
        """The citizen's Zalo id (for this OA) the event is about."""
        if self.follower is not None:
            return self.follower.id
        party = self.sender if self.from_user else self.recipient
        return None if party is None else party.id

    @property
    def key(self) -> str:
        """The same event delivered twice has the same key: its message id when it has
        one, else its name, user and timestamp."""
        if self.message is not None and self.message.msg_id:
            return f"{self.event_name}:{self.message.msg_id}"[:160]
        return f"{self.event_name}:{self.user_id or '-'}:{self.timestamp}"[:160]


# --- requests ------------------------------------------------------------------------


class Recipient(BaseModel):
    user_id: str


class TextMessage(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


class CsMessageRequest(BaseModel):
    recipient: Recipient
    message: TextMessage


class ZnsRequest(BaseModel):
    phone: str = Field(pattern=r"^84\d{9}$")
    template_id: str
    template_data: dict[str, str]
    tracking_id: str = Field(min_length=1, max_length=64)


# --- answers ---------------------------------------------------------------------------


class ApiAnswer(_Open):
    """The envelope of every OA / ZNS answer: `error` 0 is success."""

    error: int = 0
    message: str = ""
    data: dict[str, object] | None = None

    @property
    def msg_id(self) -> str | None:
        value = (self.data or {}).get("message_id") or (self.data or {}).get("msg_id")
        return None if value is None else str(value)


class TokenAnswer(_Open):
    """The token endpoint's answer: a pair, or an error (then no access_token)."""

    access_token: str | None = Field(default=None, repr=False)
    refresh_token: str | None = Field(default=None, repr=False)
    expires_in: int | None = None
    """Seconds the access token lasts (Zalo writes it as a string)."""
    error: int | None = None
    error_name: str | None = None
    error_description: str | None = None

    @field_validator("expires_in", mode="before")
    @classmethod
    def _seconds(cls, value: object) -> object:
        return int(value) if isinstance(value, str) and value.isdigit() else value
