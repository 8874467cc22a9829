"""Build the prompt WAVs from the YAML text: espeak-ng (southern voice) + sox.

Output is 8 kHz mono 16-bit WAV, what Asterisk plays without transcoding on a
narrowband call. A prompt is rebuilt only when its text changed (a sidecar
`.txt` holds the text it was made from). An admin's recording dropped into the
override directory as `<name>.wav` replaces the synthesised one.
"""

from __future__ import annotations

import math
import shutil
import struct
import subprocess
import tempfile
import wave
from pathlib import Path

import structlog

from ivr.prompts import Prompt, prompt_texts
from ivr.queue_prompts import QUEUE_MUSIC, QUEUE_TEXTS
from routing.config import HotlineConfig

log = structlog.get_logger(__name__)

VOICE = "vi-vn-x-south"
WORDS_PER_MINUTE = 150


class PromptBuildError(Exception):
    """espeak-ng or sox is missing or failed."""


def build_prompts(
    config: HotlineConfig, out_dir: Path, overrides: Path | None = None
) -> dict[Prompt, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    built: dict[Prompt, Path] = {}
    for prompt, text in prompt_texts(config).items():
        built[prompt] = _build(prompt.value, text, out_dir, overrides)
    for name, text in QUEUE_TEXTS.items():
        _build(name, text, out_dir, overrides, trim=True)
    write_queue_music(out_dir / f"{QUEUE_MUSIC}.wav")
    return built


def _build(
    name: str, text: str, out_dir: Path, overrides: Path | None, *, trim: bool = False,
) -> Path:
    target = out_dir / f"{name}.wav"
    recorded = overrides / f"{name}.wav" if overrides else None
    if recorded is not None and recorded.is_file():
        _to_telephony_wav(recorded, target)
        (out_dir / f"{name}.txt").write_text(f"recorded:{recorded}", encoding="utf-8")
    else:
        _synthesise_if_changed(text, target, trim=trim)
    return target


MUSIC_NOTES_HZ = (523.25, 659.25, 783.99, 659.25)
"""C5 E5 G5 E5: a slow, soft arpeggio, repeated."""
MUSIC_NOTE_SECONDS = 0.75
MUSIC_SECONDS = 30


def write_queue_music(target: Path, rate: int = 8000) -> None:
    """The queue's music: a generated soft arpeggio (no music files to license or to
    install into the PBX), 30 s, played in a loop between announcements."""
    if target.is_file():
        return
    note_frames = int(MUSIC_NOTE_SECONDS * rate)
    fade = rate // 20
    frames = bytearray()
    for n in range(int(MUSIC_SECONDS / MUSIC_NOTE_SECONDS)):
        hz = MUSIC_NOTES_HZ[n % len(MUSIC_NOTES_HZ)]
        for i in range(note_frames):
            envelope = min(1.0, i / fade, (note_frames - i) / fade)
            value = 0.12 * envelope * math.sin(2 * math.pi * hz * i / rate)
            frames += struct.pack("<h", int(32767 * value))
    tmp = target.with_suffix(".tmp.wav")
    with wave.open(str(tmp), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(bytes(frames))
    tmp.replace(target)


TRIM = ["silence", "1", "0.02", "1%", "reverse", "silence", "1", "0.02", "1%", "reverse",
        "pad", "0", "0.06"]
"""sox effects that cut a clip's leading and trailing silence (espeak-ng pads each word
with ~0.3 s): spliced clips then sound like one sentence."""


def _synthesise_if_changed(text: str, target: Path, *, trim: bool = False) -> None:
    stamp = target.with_suffix(".txt")
    if target.is_file() and stamp.is_file() and stamp.read_text(encoding="utf-8") == text:
        return
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "espeak.wav"
        _run(["espeak-ng", "-v", VOICE, "-s", str(WORDS_PER_MINUTE), "-w", str(raw), text])
        _to_telephony_wav(raw, target, TRIM if trim else [])
    stamp.write_text(text, encoding="utf-8")
    log.info("prompt synthesised", prompt=target.stem, seconds=round(wav_seconds(target), 2))


def _to_telephony_wav(source: Path, target: Path, effects: list[str] | None = None) -> None:
    tmp = target.with_suffix(".tmp.wav")
    _run(["sox", str(source), "-r", "8000", "-c", "1", "-b", "16", str(tmp), "norm", "-3",
          *(effects or [])])
    tmp.replace(target)


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def _run(argv: list[str]) -> None:
    if shutil.which(argv[0]) is None:
        raise PromptBuildError(f"{argv[0]} is not installed (Debian package: {argv[0]})")
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise PromptBuildError(f"{' '.join(argv[:2])} failed: {proc.stderr.strip()}")
