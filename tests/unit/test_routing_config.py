"""`routing.config`: the shipped YAML loads as designed, and every broken variant an
admin could write is refused with a `ConfigError` naming file, line and field."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from routing.config import ConfigError, HotlineConfig, load_config, parse_config

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "hotline.yaml"
SHIPPED_TEXT = SHIPPED.read_text(encoding="utf-8")

# The table of the design notes ("The nine branches"), with the YAML's spelled-out names:
# "Văn phòng UBND tỉnh" is written in full, and branch 9's general desk is the
# operating team of Sở Nội vụ.
DESIGN_BRANCHES = {
    1: ("Công tác chỉ đạo điều hành", "Sở Nội vụ"),
    2: ("Doanh nghiệp", "Hiệp hội doanh nghiệp tỉnh"),
    3: ("Công tác xây dựng và tổ chức triển khai văn bản", "Sở Tư pháp"),
    4: ("Cải cách thủ tục hành chính", "Văn phòng Ủy ban nhân dân tỉnh"),
    5: ("Tổ chức bộ máy và đào tạo", "Sở Nội vụ"),
    6: ("Tài chính công", "Sở Tài chính"),
    7: ("Ứng dụng công nghệ thông tin", "Sở Thông tin và Truyền thông"),
    8: ("ISO", "Sở Khoa học và Công nghệ"),
    9: ("Tư vấn các vấn đề khác", "Tổ vận hành Tổng đài (Sở Nội vụ)"),
}


def edited(old: str, new: str, text: str = SHIPPED_TEXT) -> str:
    """`text` with the one occurrence of `old` replaced (fails loudly if the YAML moved)."""
    assert text.count(old) == 1, f"expected exactly one {old!r} in the shipped YAML"
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    """1-based number of the one line of `text` that contains `needle`."""
    found = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(found) == 1, f"{needle!r} is on lines {found}"
    return found[0]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hotline.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def refused(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    error = info.value
    assert error.path == path
    assert str(error).startswith(f"{path}: ")
    return error


def assert_names_line_and_field(error: ConfigError, line: int, field: str) -> None:
    pattern = rf"^line {line}: {re.escape(field)}: "
    assert any(re.search(pattern, p) for p in error.problems), (
        f"no problem says 'line {line}: {field}: ...' in {error.problems}"
    )
    assert f"line {line}: {field}: " in str(error)


# --- the shipped file ----------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> HotlineConfig:
    return load_config(SHIPPED)


def test_shipped_config_has_the_nine_branches_of_the_design(shipped: HotlineConfig) -> None:
    assert [b.key for b in shipped.branches] == list(range(1, 10))
    assert {b.key: (b.name, b.agency) for b in shipped.branches} == DESIGN_BRANCHES


def test_every_branch_of_the_shipped_config_rings_listed_desks(shipped: HotlineConfig) -> None:
    listed = {d.extension for d in shipped.desks}
    for branch in shipped.branches:
        assert branch.desks, f"branch {branch.key} has no desk"
        for extension in branch.desks:
            assert extension in listed
            assert shipped.desk(extension) is not None
    assert shipped.hotline.number not in listed


def test_shipped_config_looks_up_branches_by_key(shipped: HotlineConfig) -> None:
    branch = shipped.branch(4)
    assert branch is not None
    assert branch.desks == ["1401", "1402"]
    assert shipped.branch(0) is None
    assert shipped.branch(10) is None


def test_shipped_config_falls_back_to_the_general_branch(shipped: HotlineConfig) -> None:
    assert shipped.menu.default_branch == 9
    assert shipped.branch(9) is not None


def test_shipped_hours_are_office_hours_in_vietnam(shipped: HotlineConfig) -> None:
    hours = shipped.calendar()
    assert hours.timezone == "Asia/Ho_Chi_Minh"
    assert hours.days == ["mon", "tue", "wed", "thu", "fri"]
    assert [(str(p.start), str(p.end)) for p in hours.periods] == [
        ("07:00:00", "11:30:00"),
        ("13:30:00", "17:00:00"),
    ]
    assert "Quốc khánh" in {h.name for h in hours.holidays}


def test_load_config_accepts_a_str_path() -> None:
    assert load_config(str(SHIPPED)) == load_config(SHIPPED)


def test_parse_config_gives_the_same_config_as_load_config(shipped: HotlineConfig) -> None:
    assert parse_config(SHIPPED_TEXT, SHIPPED) == shipped


# --- files that cannot be read ---------------------------------------------------


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    error = refused(tmp_path / "hotline.yaml")
    assert "cannot read file" in str(error)


def test_unreadable_path_is_a_config_error(tmp_path: Path) -> None:
    error = refused(tmp_path)  # a directory: read_text raises IsADirectoryError
    assert "cannot read file" in str(error)


def test_file_not_in_utf8_is_a_config_error(tmp_path: Path) -> None:
    windows_1258 = b"S\xf5\xd2 T\xfd ph\xe1p"  # "Sở Tư pháp" as Vietnamese Windows saves it
    assert unicodedata.normalize("NFC", windows_1258.decode("cp1258")) == "Sở Tư pháp"
    path = tmp_path / "hotline.yaml"
    path.write_bytes(SHIPPED_TEXT.encode("utf-8").replace("Sở Tư pháp".encode(), windows_1258))
    error = refused(path)
    assert "utf-8" in str(error).lower()  # tell the admin which encoding to save in


# --- broken variants --------------------------------------------------------------


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    text = edited(
        'intro: "Xin vui lòng chọn lĩnh vực cần hỗ trợ."', "intro: Xin vui lòng: chọn lĩnh vực"
    )
    error = refused(write(tmp_path, text))
    message = str(error)
    assert "not valid YAML" in message
    assert f"line {line_of(text, 'intro: Xin vui lòng: chọn')}," in message


@pytest.mark.parametrize(
    "text",
    ["- hotline\n- menu\n", '"just a string"\n', "42\n", ""],
    ids=["list", "string", "number", "empty"],
)
def test_top_level_that_is_not_a_mapping_is_refused(tmp_path: Path, text: str) -> None:
    error = refused(write(tmp_path, text))
    assert error.problems == ["line 1: the file must be a mapping (hotline:, menu:, ...)"]


FIELD_ERRORS = [
    pytest.param(
        edited('desks: ["1201", "1202"]\n', 'desks: ["1201", "1202"]\n    colour: "xanh"\n'),
        "branches.1.colour",
        'colour: "xanh"',
        "Extra inputs are not permitted",
        id="unknown-field",
    ),
    pytest.param(
        edited("  max_attempts: 3\n", "  max_attempts: 3\n  retries: 2\n"),
        "menu.retries",
        "retries: 2",
        "Extra inputs are not permitted",
        id="unknown-menu-field",
    ),
    pytest.param(
        edited('    agency: "Sở Tư pháp"\n', ""),
        "branches.2.agency",
        "- key: 3",
        "Field required",
        id="missing-field",
    ),
    pytest.param(
        edited('  number: "19001080"\n', ""),
        "hotline.number",
        'name: "Tổng đài',  # a missing field: the first line of the mapping that lacks it
        "Field required",
        id="missing-hotline-number",
    ),
    pytest.param(
        edited("  - key: 9\n", "  - key: 10\n"),
        "branches.8.key",
        "- key: 10",
        "less than or equal to 9",
        id="key-10",
    ),
    pytest.param(
        edited("  - key: 1\n", "  - key: 0\n"),
        "branches.0.key",
        "- key: 0",
        "greater than or equal to 1",
        id="key-0",
    ),
    pytest.param(
        edited('{extension: "1901"', '{extension: "19O1"'),
        "desks.16.extension",
        '{extension: "19O1"',
        "should match pattern",
        id="non-digit-desk-extension",
    ),
    pytest.param(
        edited('desks: ["1301", "1302"]', 'desks: ["1301", "13-02"]'),
        "branches.2.desks.1",
        'desks: ["1301", "13-02"]',
        "should match pattern",
        id="non-digit-branch-desk",
    ),
    pytest.param(
        edited("  digit_timeout_seconds: 6\n", "  digit_timeout_seconds: 0\n"),
        "menu.digit_timeout_seconds",
        "digit_timeout_seconds: 0",
        "greater than 0",
        id="zero-digit-timeout",
    ),
    pytest.param(
        edited('"13:30-17:00"]', '"13:30-25:00"]'),
        "hours.periods.1.end",
        '"13:30-25:00"]',
        "valid time",
        id="hour-25",
    ),
    pytest.param(
        edited("days: [mon, tue, wed, thu, fri]", "days: [mon, tue, wed, thur, fri]"),
        "hours.days.3",
        "days: [mon, tue, wed, thur, fri]",
        "Input should be",
        id="unknown-weekday",
    ),
]


@pytest.mark.parametrize(("text", "field", "needle", "why"), FIELD_ERRORS)
def test_invalid_field_is_refused_naming_file_line_and_field(
    tmp_path: Path, text: str, field: str, needle: str, why: str
) -> None:
    error = refused(write(tmp_path, text))
    assert_names_line_and_field(error, line_of(text, needle), field)
    assert why in str(error)


def _without_branch_9(text: str) -> str:
    start = text.index("  - key: 9\n")
    end = text.index("\ndesks:\n")
    return text[:start] + text[end + 1 :]


# Rules that span several fields (checked by HotlineConfig's model validator), with the
# field and the line (its needle, and which occurrence of it) the admin must look at.
CROSS_FIELD_ERRORS = [
    pytest.param(
        edited("  - key: 9\n", "  - key: 8\n"),
        "used more than once",
        "branches.8.key",
        ("- key: 8", 2),
        id="duplicate-branch-key",
    ),
    pytest.param(
        edited('desks: ["1901", "1902"]', 'desks: ["1901", "1903"]'),
        "not in 'desks'",
        "branches.8.desks.1",
        ('desks: ["1901", "1903"]', 1),
        id="desk-not-listed",
    ),
    pytest.param(
        edited('{extension: "1902"', '{extension: "1901"'),
        "listed more than once",
        "desks.17.extension",
        ('{extension: "1901"', 2),
        id="duplicate-desk-extension",
    ),
    pytest.param(
        edited('number: "19001080"', 'number: "1401"'),
        "also a desk extension",
        "hotline.number",
        ('number: "1401"', 1),
        id="hotline-number-is-a-desk",
    ),
    pytest.param(
        _without_branch_9(SHIPPED_TEXT),
        "is not a branch key",
        "menu.default_branch",
        ("default_branch: 9", 1),
        id="default-branch-missing",
    ),
]


@pytest.mark.parametrize(("text", "why", "field", "where"), CROSS_FIELD_ERRORS)
def test_inconsistent_config_is_refused_with_the_reason(
    tmp_path: Path, text: str, why: str, field: str, where: tuple[str, int]
) -> None:
    error = refused(write(tmp_path, text))
    assert why in str(error)


@pytest.mark.parametrize(("text", "why", "field", "where"), CROSS_FIELD_ERRORS)
def test_inconsistent_config_names_the_offending_line_and_field(
    tmp_path: Path, text: str, why: str, field: str, where: tuple[str, int]
) -> None:
    needle, occurrence = where
    lines = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    error = refused(write(tmp_path, text))
    assert_names_line_and_field(error, lines[occurrence - 1], field)


def test_duplicate_yaml_mapping_key_is_refused(tmp_path: Path) -> None:
    text = edited("  max_attempts: 3\n", "  max_attempts: 3\n  max_attempts: 4\n")
    error = refused(write(tmp_path, text))
    assert_names_line_and_field(error, line_of(text, "max_attempts: 4"), "menu.max_attempts")


def test_unknown_time_zone_is_refused(tmp_path: Path) -> None:
    text = edited("timezone: Asia/Ho_Chi_Minh", "timezone: Asia/HoChiMinh")
    error = refused(write(tmp_path, text))
    assert_names_line_and_field(error, line_of(text, "Asia/HoChiMinh"), "hours.timezone")


def test_impossible_holiday_date_is_refused(tmp_path: Path) -> None:
    text = edited("{date: 2026-09-02,", "{date: 2026-02-30,")
    error = refused(write(tmp_path, text))
    assert f"line {line_of(text, '2026-02-30')}" in str(error)


def test_period_ending_before_it_starts_is_refused(tmp_path: Path) -> None:
    text = edited('"13:30-17:00"]', '"17:00-13:30"]')
    error = refused(write(tmp_path, text))
    assert_names_line_and_field(error, line_of(text, '"17:00-13:30"]'), "hours.periods.1")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = edited("  - key: 9\n", "  - key: 10\n")
    text = edited('{extension: "1901"', '{extension: "19O1"', text)
    error = refused(write(tmp_path, text))
    assert len(error.problems) == 2
    assert_names_line_and_field(error, line_of(text, "- key: 10"), "branches.8.key")
    assert_names_line_and_field(error, line_of(text, "19O1"), "desks.16.extension")
