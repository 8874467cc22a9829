"""The prompt catalogue: which prompts a call can hear and what each says.

The texts come from the YAML (menu section and branch names); the audio files
are made from them by `hotline.prompts` (espeak-ng + sox) or dropped in by an
admin. Asterisk plays them by absolute path, so `media(name)` needs the
directory as Asterisk sees it (inside the chroot for the embedded PBX).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from routing.config import HotlineConfig


class Prompt(StrEnum):
    GREETING = "greeting"
    MENU = "menu"
    INVALID = "invalid"
    NO_INPUT = "no_input"
    CONNECTING = "connecting"
    DESK_UNREACHABLE = "desk_unreachable"
    GOODBYE = "goodbye"
    CLOSED = "closed"
    HOLIDAY = "holiday"
    STILL_TRYING = "still_trying"
    LEAVE_MESSAGE = "leave_message"
    MESSAGE_SAVED = "message_saved"
    MESSAGE_FAILED = "message_failed"
    MESSAGE_FAILED_NO_NUMBER = "message_failed_no_number"
    SURVEY_QUESTION = "survey_question"
    SURVEY_INVALID = "survey_invalid"
    SURVEY_THANKS = "survey_thanks"
    RECORDING_NOTICE = "recording_notice"
    DESK_LOGGED_IN = "desk_logged_in"
    DESK_LOGGED_OUT = "desk_logged_out"
    DESK_PAUSED = "desk_paused"
    DESK_RESUMED = "desk_resumed"
    CALLBACK_OFFER = "callback_offer"
    CALLBACK_CONFIRMED = "callback_confirmed"
    CALLBACK_NOT_REACHED = "callback_not_reached"


def prompt_texts(config: HotlineConfig) -> dict[Prompt, str]:
    menu, survey = config.menu, config.survey
    options = " ".join(f"Nhấn phím {b.key}: {b.name}." for b in sorted(config.branches, key=_key))
    return {
        Prompt.GREETING: menu.greeting,
        Prompt.MENU: f"{menu.intro} {options} {menu.repeat_hint}",
        Prompt.INVALID: menu.invalid,
        Prompt.NO_INPUT: menu.no_input,
        Prompt.CONNECTING: menu.connecting,
        Prompt.DESK_UNREACHABLE: menu.desk_unreachable,
        Prompt.GOODBYE: menu.goodbye,
        Prompt.CLOSED: menu.closed,
        Prompt.HOLIDAY: menu.holiday,
        Prompt.STILL_TRYING: menu.still_trying,
        Prompt.LEAVE_MESSAGE: menu.leave_message,
        Prompt.MESSAGE_SAVED: menu.message_saved,
        Prompt.MESSAGE_FAILED: menu.message_failed,
        Prompt.MESSAGE_FAILED_NO_NUMBER: menu.message_failed_no_number,
        Prompt.SURVEY_QUESTION: survey.question.format(scale=survey.scale,
                                                       skip=_key_name(survey.skip_key)),
        Prompt.SURVEY_INVALID: survey.invalid,
        Prompt.SURVEY_THANKS: survey.thanks,
        Prompt.RECORDING_NOTICE: config.recording.notice,
        Prompt.DESK_LOGGED_IN: "Đã đăng nhập.",
        Prompt.DESK_LOGGED_OUT: "Đã đăng xuất.",
        Prompt.DESK_PAUSED: "Tạm nghỉ. Máy bàn tạm ngưng nhận cuộc gọi.",
        Prompt.DESK_RESUMED: "Tiếp tục. Máy bàn nhận cuộc gọi trở lại.",
        Prompt.CALLBACK_OFFER: "Nếu muốn được gọi lại mà vẫn giữ nguyên thứ tự, xin nhấn "
                               f"phím {config.callback.key}.",
        Prompt.CALLBACK_CONFIRMED: "Đã ghi nhận. Đến lượt quý vị, cán bộ sẽ gọi lại. "
                                   "Xin cảm ơn.",
        Prompt.CALLBACK_NOT_REACHED: "Người dân không nghe máy. Kết quả đã được ghi lại.",
    }


@dataclass(frozen=True)
class PromptLibrary:
    """Where Asterisk finds the prompt files (a directory on the PBX host)."""

    pbx_dir: str

    def media(self, prompt: Prompt) -> str:
        return self.file(prompt.value)

    def file(self, name: str) -> str:
        """A file of the prompts directory by name (an announcement override's)."""
        return f"sound:{self.pbx_dir.rstrip('/')}/{name}"


def _key_name(key: str) -> str:
    return {"*": "sao", "#": "thăng"}.get(key, key)


def _key(branch: object) -> int:
    return int(getattr(branch, "key", 0))
