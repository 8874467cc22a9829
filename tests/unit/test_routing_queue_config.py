"""The per-branch `queue:` YAML: on by default with documented defaults, validated
with the file's line and field like every other setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from routing.config import ConfigError, load_config

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "hotline.yaml"


def test_every_shipped_branch_queues_with_the_documented_defaults() -> None:
    config = load_config(SHIPPED)
    for branch in config.branches:
        assert branch.queue.enabled
        assert (branch.queue.announce_every_seconds, branch.queue.max_wait_seconds,
                branch.queue.music) == (30, 300, "tone")


def _with_queue(tmp_path: Path, queue: str) -> Path:
    text = SHIPPED.read_text(encoding="utf-8").replace(
        '    desks: ["1401", "1402"]\n', f'    desks: ["1401", "1402"]\n    queue: {queue}\n', 1)
    path = tmp_path / "hotline.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_branch_can_switch_its_queue_off_or_tune_it(tmp_path: Path) -> None:
    config = load_config(_with_queue(
        tmp_path, "{enabled: false, announce_every_seconds: 45, max_wait_seconds: 120}"))
    branch = config.branch(4)
    assert branch is not None
    assert (branch.queue.enabled, branch.queue.announce_every_seconds,
            branch.queue.max_wait_seconds) == (False, 45, 120)


@pytest.mark.parametrize(("queue", "field"), [
    ("{announce_every_seconds: 5}", "branches[3].queue.announce_every_seconds"),
    ("{max_wait_seconds: 0}", "branches[3].queue.max_wait_seconds"),
    ("{music: jazz}", "branches[3].queue.music"),
    ("{wait: 10}", "branches[3].queue.wait"),
])
def test_a_bad_queue_setting_is_refused_naming_its_line_and_field(
    tmp_path: Path, queue: str, field: str,
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(_with_queue(tmp_path, queue))
    assert f"hotline.yaml:113 {field}:" in str(refused.value)
