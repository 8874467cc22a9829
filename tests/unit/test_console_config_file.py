"""An admin's new YAML (console/config_file.py): checked like `hotline config check`, and
written in one rename, keeping the file's mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from console.config_file import NEW_FILE_MODE, check, write_atomically
from tests.filemodes import born_private

ROOT = Path(__file__).resolve().parents[2]
GOOD = (ROOT / "config" / "hotline.yaml").read_bytes()

__all__ = ["born_private"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_valid_file_checks_ok_with_its_configuration() -> None:
    checked = check(GOOD, "hotline.yaml")
    assert checked.ok and checked.problems == ()
    assert checked.config is not None and len(checked.config.branches) == 9


def test_a_bad_file_gives_config_checks_messages_with_file_line_and_field() -> None:
    bad = GOOD.replace(b'desks: ["1401", "1402"]', b'desks: ["14x01"]', 1)
    assert bad != GOOD
    checked = check(bad, "C:\\Users\\admin\\moi.yaml")
    assert not checked.ok
    assert checked.name == "moi.yaml"
    assert checked.problems[0].startswith("moi.yaml:112 branches[3].desks[0]:"), checked.problems


def test_yaml_that_does_not_parse_is_a_problem_with_its_line() -> None:
    checked = check(b"hotline:\n  name: [unclosed\n", "x.yaml")
    assert not checked.ok and checked.problems[0].startswith("x.yaml:")


@pytest.mark.usefixtures("born_private")
def test_writing_replaces_the_file_and_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "hotline.yaml"
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o600))
    write_atomically(target, b"new: content\n")
    assert target.read_bytes() == b"new: content\n"
    assert _mode(target) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hotline.yaml"]


@pytest.mark.usefixtures("born_private")
def test_a_new_file_is_born_readable_by_owner_and_group_only(tmp_path: Path) -> None:
    target = tmp_path / "hotline.yaml"
    write_atomically(target, b"x: 1\n")
    assert _mode(target) == NEW_FILE_MODE == 0o640


def test_a_mode_the_umask_would_narrow_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "hotline.yaml"
    target.write_bytes(b"old\n")
    target.chmod(0o660)  # the admin's own choice for the existing file
    previous = os.umask(0o022)
    try:
        write_atomically(target, b"new\n")
    finally:
        os.umask(previous)
    assert _mode(target) == 0o660


def test_a_failed_rename_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "hotline.yaml"
    target.write_bytes(b"old\n")

    def fail(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, b"new\n")
    assert target.read_bytes() == b"old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hotline.yaml"]
