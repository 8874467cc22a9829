"""The queue's clips with the real espeak-ng and sox: every clip an announcement can
splice exists as an 8 kHz mono WAV, number words are short (their padding trimmed),
and the music is generated, not silent."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

from hotline.prompts import build_prompts, wav_seconds
from ivr.prompts import PromptLibrary
from ivr.queue_prompts import QUEUE_MUSIC, QUEUE_TEXTS, announcement
from routing.config import load_config

CONFIG = load_config("config/hotline.yaml")


def test_every_clip_an_announcement_splices_is_built(tmp_path: Path) -> None:
    build_prompts(CONFIG, tmp_path)
    library = PromptLibrary(str(tmp_path))
    for position, minutes in ((1, None), (4, 1), (21, 15), (115, 105)):
        for media in announcement(library, position, minutes, joined=True, music=True):
            path = Path(media.removeprefix("sound:") + ".wav")
            with wave.open(str(path), "rb") as wav:
                assert (wav.getframerate(), wav.getnchannels()) == (8000, 1), path.name
    assert {f"{n}.wav" for n in QUEUE_TEXTS} <= {p.name for p in tmp_path.iterdir()}


def test_number_words_are_trimmed_short_and_the_music_is_heard(tmp_path: Path) -> None:
    build_prompts(CONFIG, tmp_path)
    assert max(wav_seconds(tmp_path / f"number_{n}.wav") for n in ("1", "2", "muoi", "mot")) < 0.6
    with wave.open(str(tmp_path / f"{QUEUE_MUSIC}.wav"), "rb") as wav:
        raw = wav.readframes(wav.getnframes())
    samples = struct.unpack(f"<{len(raw) // 2}h", raw)
    assert wav_seconds(tmp_path / f"{QUEUE_MUSIC}.wav") >= 30
    assert math.sqrt(sum(x * x for x in samples) / len(samples)) > 1000
