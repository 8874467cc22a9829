"""Prompt synthesis with the real espeak-ng and sox: 8 kHz mono WAVs, rebuilt only
when the YAML text changes, and an admin's recording replaces a synthesised prompt."""

from __future__ import annotations

import wave
from pathlib import Path

from hotline.prompts import build_prompts, wav_seconds
from ivr.prompts import Prompt
from routing.config import HotlineConfig, load_config

CONFIG = load_config("config/hotline.yaml")


def test_every_prompt_is_an_8khz_mono_wav_with_speech(tmp_path: Path) -> None:
    built = build_prompts(CONFIG, tmp_path)
    assert set(built) == set(Prompt)
    for path in built.values():
        with wave.open(str(path), "rb") as wav:
            assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        assert wav_seconds(path) > 1.0
    # The menu names every branch: it is the longest prompt.
    assert max(built, key=lambda p: wav_seconds(built[p])) == Prompt.MENU


def test_prompt_is_rebuilt_only_when_its_text_changes(tmp_path: Path) -> None:
    build_prompts(CONFIG, tmp_path)
    before = {p: (tmp_path / f"{p.value}.wav").stat().st_mtime_ns for p in Prompt}
    changed = CONFIG.model_copy(
        update={"menu": CONFIG.menu.model_copy(update={"goodbye": "Tạm biệt."})}
    )
    assert isinstance(changed, HotlineConfig)
    build_prompts(changed, tmp_path)
    after = {p: (tmp_path / f"{p.value}.wav").stat().st_mtime_ns for p in Prompt}
    assert [p for p in Prompt if before[p] != after[p]] == [Prompt.GOODBYE]


def test_admin_recording_replaces_the_synthesised_prompt(tmp_path: Path) -> None:
    recorded = tmp_path / "recorded"
    recorded.mkdir()
    with wave.open(str(recorded / "greeting.wav"), "wb") as wav:  # 44.1 kHz stereo, 3 s
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(44100)
        wav.writeframes(b"\x10\x00" * 2 * 44100 * 3)
    built = build_prompts(CONFIG, tmp_path / "out", recorded)
    with wave.open(str(built[Prompt.GREETING]), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels()) == (8000, 1)
    assert abs(wav_seconds(built[Prompt.GREETING]) - 3.0) < 0.05
