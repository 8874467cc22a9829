"""Reloading the YAML: a valid change applies to new calls, a broken one is refused."""

from __future__ import annotations

from pathlib import Path

from structlog.testing import capture_logs

from hotline.reload import ConfigHolder
from routing.config import load_config

SHIPPED = Path("config/hotline.yaml").read_text(encoding="utf-8")


def holder_on(tmp_path: Path) -> tuple[ConfigHolder, Path]:
    path = tmp_path / "hotline.yaml"
    path.write_text(SHIPPED, encoding="utf-8")
    return ConfigHolder(path, load_config(path)), path


def test_unchanged_file_is_not_reloaded(tmp_path: Path) -> None:
    holder, _ = holder_on(tmp_path)
    before = holder()
    assert holder.reload().status == "unchanged"
    assert holder() is before


def test_valid_change_applies_to_the_next_call(tmp_path: Path) -> None:
    holder, path = holder_on(tmp_path)
    in_progress = holder()
    path.write_text(SHIPPED.replace('desks: ["1401", "1402"]', 'desks: ["1402", "1401"]'),
                    encoding="utf-8")
    with capture_logs() as logs:
        result = holder.reload()
    assert result.status == "applied"
    assert holder().branch(4).desks == ["1402", "1401"]  # type: ignore[union-attr]
    assert in_progress.branch(4).desks == ["1401", "1402"]  # type: ignore[union-attr]
    assert [e["event"] for e in logs] == ["config applied to new calls"]
    assert logs[0]["sha256"] == result.sha256


def test_broken_change_is_refused_and_the_running_config_stays(tmp_path: Path) -> None:
    holder, path = holder_on(tmp_path)
    before = holder()
    path.write_text(SHIPPED.replace("  - key: 9\n", "  - key: 10\n"), encoding="utf-8")
    with capture_logs() as logs:
        result = holder.reload()
    assert result.status == "refused"
    assert any("branches.8.key" in p for p in result.problems)
    assert holder() is before
    assert logs[0]["log_level"] == "error" and logs[0]["problems"] == list(result.problems)
    assert holder.reload().status == "unchanged"  # the same bad bytes are not re-reported
