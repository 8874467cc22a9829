"""Build the prompt WAVs from the YAML text: espeak-ng (southern voice) + sox.

Output is 8 kHz mono 16-bit WAV, what Asterisk plays without transcoding on a
narrowband call. A prompt is rebuilt only when its text changed (a sidecar
`.txt` holds the text it was made from). An admin's recording dropped into the
override directory as `<name>.wav` replaces the synthesised one.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import structlog

from ivr.prompts import Prompt, prompt_texts
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
        target = out_dir / f"{prompt.value}.wav"
        recorded = overrides / f"{prompt.value}.wav" if overrides else None
        if recorded is not None and recorded.is_file():
            _to_telephony_wav(recorded, target)
            (out_dir / f"{prompt.value}.txt").write_text(f"recorded:{recorded}", encoding="utf-8")
        else:
            _synthesise_if_changed(text, target)
        built[prompt] = target
    return built


def _synthesise_if_changed(text: str, target: Path) -> None:
    stamp = target.with_suffix(".txt")
    if target.is_file() and stamp.is_file() and stamp.read_text(encoding="utf-8") == text:
        return
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "espeak.wav"
        _run(["espeak-ng", "-v", VOICE, "-s", str(WORDS_PER_MINUTE), "-w", str(raw), text])
        _to_telephony_wav(raw, target)
    stamp.write_text(text, encoding="utf-8")
    log.info("prompt synthesised", prompt=target.stem, seconds=round(wav_seconds(target), 2))


def _to_telephony_wav(source: Path, target: Path) -> None:
    tmp = target.with_suffix(".tmp.wav")
    _run(["sox", str(source), "-r", "8000", "-c", "1", "-b", "16", str(tmp), "norm", "-3"])
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
