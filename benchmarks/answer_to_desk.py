"""How long from the hotline answering to the desk phone ringing, when the caller
presses the branch key at once; and how long the full greeting + menu lasts.

Real parts: the embedded Asterisk, `hotline serve`, pjsua2 phones. Prints
numbers, asserts nothing. Run: `.venv/bin/python -m benchmarks.answer_to_desk [N]`.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

from dialplan.generate import desk_password
from hotline.embedded import embedded_pbx, provision
from hotline.pbx import PbxPorts
from hotline.prompts import wav_seconds
from routing.config import load_config
from tests.e2e.conftest import _start_service, _stop_service, throwaway_settings
from tests.e2e.phones import SipStack

REPO = Path(__file__).resolve().parents[1]


def main(calls: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="hotline-bench-"))
    # The shipped YAML, open round the clock so the measurement works at any hour.
    data = yaml.safe_load((REPO / "config" / "hotline.yaml").read_text(encoding="utf-8"))
    data["hours"].update(days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                         periods=["00:00-24:00"], holidays=[])
    config_path = tmp / "hotline.yaml"
    config_path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    config = load_config(config_path)
    settings = throwaway_settings(config_path, tmp)
    pbx = embedded_pbx(settings, name=f"bench-{os.getpid()}", ports=PbxPorts.free())
    provision(pbx, config, settings)
    sounds = pbx.sounds_host_dir
    menu_seconds = wav_seconds(sounds / "greeting.wav") + wav_seconds(sounds / "menu.wav")
    pbx.start()
    service = _start_service(settings, pbx, tmp / "service.log")
    sip = SipStack()
    try:
        registrar = f"127.0.0.1:{pbx.ports.sip}"
        secret = settings.sip_secret.get_secret_value()
        desk = sip.phone("1401", registrar, desk_password(secret, "1401"), auto_answer=False)
        sip.wait_until(lambda: desk.registered, 10, "desk registration")
        samples = []
        for n in range(calls):
            caller = sip.phone(f"0919{n:06d}", registrar)
            call = caller.call(config.hotline.number)
            sip.wait_until(lambda c=call: c.confirmed, 10, "answer")  # type: ignore[misc]
            answered = time.monotonic()
            call.send_digits("4")
            before = len(desk.calls)
            sip.wait_until(lambda b=before: len(desk.calls) > b, 10, "desk to ring")  # type: ignore[misc]
            samples.append(time.monotonic() - answered)
            call.hangup_now()
            sip.pump(0.5)
            desk.forget_calls()
            sip.retire(caller)
        print(f"greeting + menu as synthesised: {menu_seconds:.1f} s")
        print(f"answer -> desk ringing, key pressed at once ({calls} calls): "
              f"median {statistics.median(samples) * 1000:.0f} ms, "
              f"min {min(samples) * 1000:.0f} ms, max {max(samples) * 1000:.0f} ms")
    finally:
        sip.close()
        _stop_service(service)
        pbx.stop()
        pbx.remove()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
