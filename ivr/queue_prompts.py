"""What a queued caller hears: short clips spliced into sentences with numbers.

"Quý vị đang ở vị trí thứ" + the position's number clips, then "Thời gian chờ dự
kiến khoảng" + the minutes' clips + "phút", then music. Every clip is synthesised
once at build time (`hotline.prompts`), like the other prompts; an admin's recording
with the same name replaces it.
"""

from __future__ import annotations

from typing import Final

from ivr.prompts import PromptLibrary
from routing.spoken import NUMBER_WORDS, number_clips, ordinal_clips

QUEUE_JOINED: Final = "queue_joined"
QUEUE_POSITION: Final = "queue_position"
QUEUE_WAIT: Final = "queue_wait"
QUEUE_MINUTES: Final = "queue_minutes"
QUEUE_MUSIC: Final = "queue_music"
"""Generated (not spoken): see `hotline.prompts.write_queue_music`."""
NUMBER_PREFIX: Final = "number_"

QUEUE_TEXTS: Final[dict[str, str]] = {
    QUEUE_JOINED: "Tất cả cán bộ phụ trách đang bận. Xin quý vị vui lòng giữ máy, "
                  "cuộc gọi sẽ được chuyển đến cán bộ theo thứ tự.",
    QUEUE_POSITION: "Quý vị đang ở vị trí thứ",
    QUEUE_WAIT: "Thời gian chờ dự kiến khoảng",
    QUEUE_MINUTES: "phút.",
    **{f"{NUMBER_PREFIX}{name}": word for name, word in NUMBER_WORDS.items()},
}
"""Clip name -> its text (spoken clips only)."""
MUSIC_REPEATS = 20
"""The music file is queued this many times after an announcement (it outlasts any
`announce_every_seconds`; the next announcement stops it)."""


def clip(library: PromptLibrary, name: str) -> str:
    return f"sound:{library.pbx_dir.rstrip('/')}/{name}"


def announcement(
    library: PromptLibrary, position: int, minutes: int | None, *, joined: bool, music: bool,
    offer: list[str] | None = None,
) -> list[str]:
    """The media of one announcement: (on joining, why the caller waits), the position,
    the expected wait when known, the call-back `offer` if any, then the music."""
    names = [QUEUE_JOINED] if joined else []
    names += [QUEUE_POSITION, *(NUMBER_PREFIX + c for c in ordinal_clips(position))]
    if minutes is not None:
        names += [QUEUE_WAIT, *(NUMBER_PREFIX + c for c in number_clips(minutes)),
                  QUEUE_MINUTES]
    media = [clip(library, n) for n in names] + (offer or [])
    if music:
        media += [clip(library, QUEUE_MUSIC)] * MUSIC_REPEATS
    return media
