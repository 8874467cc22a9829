"""`hotline announce on|off|show`, and the audio of an announcement (shared with the
console): synthesised from text (espeak-ng + sox, like the prompts) or a recording
(a WAV, converted with sox), written as `override-<hash>.wav` where Asterisk reads
our prompts. Every switch is a row of `announcements` (who, when, what)."""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import wave
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from calllog.announcements import AnnouncementStore, OverrideMode, OverrideSwitch
from calllog.db import make_engine, make_sessionmaker, upgrade_async
from hotline.prompts import VOICE, WORDS_PER_MINUTE, PromptBuildError, _run, _to_telephony_wav
from hotline.settings import Settings
from routing.override import override_in_force

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
SUSPENDED_TEXT = "Tổng đài tạm ngưng tiếp nhận cuộc gọi qua các nhánh."
MEDIA_PREFIX = "override-"
MAX_TEXT = 1000
UNTIL_FORMATS = ("%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M")


class AnnouncementError(Exception):
    """The announcement cannot be made (bad text, time or recording); the message says why."""


def sounds_host_dir(settings: Settings) -> Path:
    """Where Asterisk reads our prompts, on this host (the embedded PBX's by default)."""
    if settings.prompts_host_dir is not None:
        return settings.prompts_host_dir
    return settings.asterisk_root / f"var/lib/hotline/{settings.pbx_instance}/sounds"


def parse_until(text: str, now: datetime) -> datetime:
    """`dd/mm/yyyy HH:MM` (or ISO), Asia/Ho_Chi_Minh unless it names a zone; in the future."""
    for fmt in UNTIL_FORMATS:
        try:
            value = datetime.strptime(text.strip(), fmt).replace(tzinfo=LOCAL)
            break
        except ValueError:
            continue
    else:
        try:
            value = datetime.fromisoformat(text.strip())
        except ValueError:
            raise AnnouncementError(
                f"hết hạn không đọc được: {text!r} (dd/mm/yyyy HH:MM)") from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=LOCAL)
    if value <= now:
        raise AnnouncementError("thời điểm hết hạn phải ở tương lai")
    return value


def synthesise(text: str, out_dir: Path) -> str:
    """The announcement read from `text`; returns its media name."""
    text = " ".join(text.split())
    if not text or len(text) > MAX_TEXT:
        raise AnnouncementError(f"nội dung phải có từ 1 đến {MAX_TEXT} ký tự")
    name = MEDIA_PREFIX + hashlib.sha256(text.encode()).hexdigest()[:16]
    target = out_dir / f"{name}.wav"
    if not target.is_file():
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "espeak.wav"
            _run(["espeak-ng", "-v", VOICE, "-s", str(WORDS_PER_MINUTE), "-w", str(raw), text])
            _to_telephony_wav(raw, target)
    return name


def from_recording(data: bytes, out_dir: Path) -> str:
    """An uploaded recording (a WAV file) converted to what Asterisk plays."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AnnouncementError("tệp ghi âm phải là tệp WAV")
    name = MEDIA_PREFIX + hashlib.sha256(data).hexdigest()[:16]
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "upload.wav"
        source.write_bytes(data)
        try:
            _to_telephony_wav(source, out_dir / f"{name}.wav")
        except PromptBuildError as exc:
            raise AnnouncementError(f"tệp WAV không đọc được: {exc}") from exc
    with wave.open(str(out_dir / f"{name}.wav"), "rb") as converted:
        if converted.getnframes() == 0:
            raise AnnouncementError("tệp ghi âm không có tiếng")
    return name


def describe(switch: OverrideSwitch | None, now: datetime) -> str:
    if switch is None:
        return "No announcement has ever been switched on."
    at = switch.at.astimezone(LOCAL).strftime("%d/%m/%Y %H:%M")
    if not switch.on:
        return f"off (switched off by {switch.by} at {at})"
    until = switch.until.astimezone(LOCAL).strftime("%d/%m/%Y %H:%M") if switch.until else "-"
    state = "on" if override_in_force(switch.on, switch.until, now) else "expired"
    mode = switch.mode.value if switch.mode else OverrideMode.AFTER_GREETING.value
    return (f"{state}: {mode}, until {until} (by {switch.by} at {at}); media {switch.media}; "
            f"text: {switch.text or '(recording)'}")


def add_announce_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("announce", help="the announcement override (after the greeting, "
                       "or instead of the menu)")
    actions = p.add_subparsers(dest="announce_command", required=True)
    on = actions.add_parser("on", help="switch an announcement on")
    what = on.add_mutually_exclusive_group()
    what.add_argument("--text", help="what to say (synthesised)")
    what.add_argument("--wav", type=Path, help="a recording to play instead (WAV)")
    on.add_argument("--until", required=True, help="expiry, dd/mm/yyyy HH:MM (Asia/Ho_Chi_Minh)")
    on.add_argument("--replace-menu", action="store_true",
                    help="the hotline is suspended: no menu, callers may leave a message")
    on.add_argument("--by", help="who switches it (default: $USER)")
    off = actions.add_parser("off", help="switch the announcement off")
    off.add_argument("--by", help="who switches it (default: $USER)")
    actions.add_parser("show", help="the announcement in force and the last switches")


async def run_announce(settings: Settings, args: argparse.Namespace, now: datetime,
                       by: str) -> tuple[int, str]:
    try:
        switch = _switch_from(settings, args, now, by)
    except (AnnouncementError, PromptBuildError, OSError) as exc:
        return 2, f"announce: {exc}"
    await upgrade_async(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        store = AnnouncementStore(make_sessionmaker(engine))
        if switch is not None:
            await store.switch(switch)
        history = await store.history(10)
    finally:
        await engine.dispose()
    lines = [describe(history[0] if history else None, now)]
    if args.announce_command == "show" and len(history) > 1:
        lines += ["", "earlier switches:"] + [describe(s, now) for s in history[1:]]
    return 0, "\n".join(lines)


def _switch_from(settings: Settings, args: argparse.Namespace, now: datetime,
                 by: str) -> OverrideSwitch | None:
    who = args.by or by if args.announce_command != "show" else by
    match args.announce_command:
        case "off":
            return OverrideSwitch(at=now, by=who, on=False)
        case "on":
            until = parse_until(args.until, now)
            mode = OverrideMode.REPLACE_MENU if args.replace_menu else OverrideMode.AFTER_GREETING
            out = sounds_host_dir(settings)
            if args.wav is not None:
                media, text = from_recording(args.wav.read_bytes(), out), None
            else:
                text = args.text or (SUSPENDED_TEXT if args.replace_menu else None)
                if not text:
                    raise AnnouncementError("give --text or --wav")
                media = synthesise(text, out)
            return OverrideSwitch(at=now, by=who, on=True, mode=mode, text=text, media=media,
                                  until=until)
    return None
