"""`routing.config`: the shipped YAML loads as designed, and every broken variant an
admin could write is refused with a `ConfigError` naming file, line and field, each
problem as `file:line field: message` (e.g. `hotline.yaml:42 branches[3].desks[0]: ...`)."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from hotline import cli
from ivr.prompts import Prompt, prompt_texts
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
    """Some problem reads `<file>:<line> <field>: ...`, and the error's text shows it."""
    where = f"{error.path}:{line} {field}: "
    assert any(p.startswith(where) for p in error.problems), (
        f"no problem says '{where}...' in {error.problems}"
    )
    assert any(text.startswith(where) for text in str(error).splitlines())


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
    path = tmp_path / "hotline.yaml"
    error = refused(path)
    assert error.problems == [f"{path}: cannot read file: No such file or directory"]


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
    first = SHIPPED_TEXT[: SHIPPED_TEXT.index("Sở Tư pháp")].count("\n") + 1
    [problem] = error.problems
    assert problem.startswith(f"{path}:{first} the file must be saved as UTF-8")


# --- broken variants --------------------------------------------------------------


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    text = edited(
        'intro: "Xin vui lòng chọn lĩnh vực cần hỗ trợ."', "intro: Xin vui lòng: chọn lĩnh vực"
    )
    path = write(tmp_path, text)
    error = refused(path)
    line = line_of(text, "intro: Xin vui lòng: chọn")
    assert error.problems == [
        f"{path}:{line} not valid YAML: mapping values are not allowed here (column 22)"
    ]
    assert error.problems[0] in str(error).splitlines()


@pytest.mark.parametrize(
    "text",
    ["- hotline\n- menu\n", '"just a string"\n', "42\n", ""],
    ids=["list", "string", "number", "empty"],
)
def test_top_level_that_is_not_a_mapping_is_refused(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    error = refused(path)
    assert error.problems == [f"{path}:1 the file must be a mapping (hotline:, menu:, ...)"]


FIELD_ERRORS = [
    pytest.param(
        edited('desks: ["1201", "1202"]\n', 'desks: ["1201", "1202"]\n    colour: "xanh"\n'),
        "branches[1].colour",
        'colour: "xanh"',
        "unknown key (not one of: key, name, agency, desks, strategy, ring_timeout_seconds, "
        "max_wait_seconds, hours, survey, record_calls, queue, wrap_up_seconds)",
        id="unknown-field",
    ),
    pytest.param(
        edited("  max_attempts: 3\n", "  max_attempts: 3\n  retries: 2\n"),
        "menu.retries",
        "retries: 2",
        "unknown key (not one of: greeting, intro, invalid, no_input, connecting,",
        id="unknown-menu-field",
    ),
    pytest.param(
        edited('    agency: "Sở Tư pháp"\n', ""),
        "branches[2].agency",
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
        "branches[8].key",
        "- key: 10",
        "less than or equal to 9",
        id="key-10",
    ),
    pytest.param(
        edited("  - key: 1\n", "  - key: 0\n"),
        "branches[0].key",
        "- key: 0",
        "greater than or equal to 1",
        id="key-0",
    ),
    pytest.param(
        edited('{extension: "1901"', '{extension: "19O1"'),
        "desks[16].extension",
        '{extension: "19O1"',
        "should match pattern",
        id="non-digit-desk-extension",
    ),
    pytest.param(
        edited('desks: ["1301", "1302"]', 'desks: ["1301", "13-02"]'),
        "branches[2].desks[1]",
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
        "hours.periods[1].end",
        '"13:30-25:00"]',
        "valid time",
        id="hour-25",
    ),
    pytest.param(
        edited("days: [mon, tue, wed, thu, fri]", "days: [mon, tue, wed, thur, fri]"),
        "hours.days[3]",
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
        "branches[8].key",
        ("- key: 8", 2),
        id="duplicate-branch-key",
    ),
    pytest.param(
        edited('desks: ["1901", "1902"]', 'desks: ["1901", "1903"]'),
        "not in 'desks'",
        "branches[8].desks[1]",
        ('desks: ["1901", "1903"]', 1),
        id="desk-not-listed",
    ),
    pytest.param(
        edited('{extension: "1902"', '{extension: "1901"'),
        "listed more than once",
        "desks[17].extension",
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
    assert_names_line_and_field(error, line_of(text, "2026-02-30"), "hours.holidays[10].date")


def test_period_ending_before_it_starts_is_refused(tmp_path: Path) -> None:
    text = edited('"13:30-17:00"]', '"17:00-13:30"]')
    error = refused(write(tmp_path, text))
    assert_names_line_and_field(error, line_of(text, '"17:00-13:30"]'), "hours.periods[1]")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = edited("  - key: 9\n", "  - key: 10\n")
    text = edited('{extension: "1901"', '{extension: "19O1"', text)
    error = refused(write(tmp_path, text))
    assert len(error.problems) == 2
    assert_names_line_and_field(error, line_of(text, "- key: 10"), "branches[8].key")
    assert_names_line_and_field(error, line_of(text, "19O1"), "desks[16].extension")


# --- the form of a problem: `file:line field: message` -------------------------------


def test_list_indices_are_shown_in_brackets(tmp_path: Path) -> None:
    text = edited('desks: ["1401", "1402"]', 'desks: ["14O1", "1402"]')
    path = write(tmp_path, text)
    error = refused(path)
    line = line_of(text, 'desks: ["14O1", "1402"]')
    assert error.problems == [
        f"{path}:{line} branches[3].desks[0]: String should match pattern '^[0-9]{{2,8}}$'"
    ]


def test_problems_name_the_file_as_it_was_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config").mkdir()
    text = edited("  - key: 9\n", "  - key: 10\n")
    (tmp_path / "config" / "hotline.yaml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config("config/hotline.yaml")
    assert info.value.problems == [
        f"config/hotline.yaml:{line_of(text, '- key: 10')} branches[8].key: "
        "Input should be less than or equal to 9"
    ]
    assert str(info.value).startswith("config/hotline.yaml: invalid configuration:\n")


def test_parse_config_names_the_path_it_is_given() -> None:
    text = edited("  max_attempts: 3\n", "  max_attempts: 0\n")
    with pytest.raises(ConfigError) as info:
        parse_config(text, Path("hotline.yaml"))
    assert info.value.problems == [
        f"hotline.yaml:{line_of(text, 'max_attempts: 0')} menu.max_attempts: "
        "Input should be greater than or equal to 1"
    ]


def test_every_problem_appears_verbatim_in_the_message(tmp_path: Path) -> None:
    text = edited("  - key: 9\n", "  - key: 10\n")
    text = edited('{extension: "1901"', '{extension: "19O1"', text)
    error = refused(write(tmp_path, text))
    assert str(error).splitlines() == [f"{error.path}: invalid configuration:", *error.problems]


# --- unknown keys -------------------------------------------------------------------


def _models(kind: Any, seen: set[type[BaseModel]]) -> set[type[BaseModel]]:
    """`kind` and every model its fields reach, through lists, unions and Annotated."""
    if isinstance(kind, type) and issubclass(kind, BaseModel) and kind not in seen:
        seen.add(kind)
        for field in kind.model_fields.values():
            _models(field.annotation, seen)
    for arg in get_args(kind):
        _models(arg, seen)
    return seen


def test_every_model_of_the_config_refuses_unknown_keys() -> None:
    models = _models(HotlineConfig, set())
    assert {m.__name__ for m in models} >= {
        "HotlineConfig", "HotlineInfo", "MenuConfig", "VoicemailConfig", "Calendar", "Period",
        "Holiday", "Branch", "HoursOverride", "Desk", "Station", "SurveyConfig",
        "ComplaintConfig",
    }
    for model in models:
        assert model.model_config.get("extra") == "forbid", model.__name__


UNKNOWN_KEYS = [
    pytest.param(
        edited('{extension: "1201", name:', '{extension: "1201", floor: 2, name:'),
        "desks[2].floor",
        "floor: 2",
        "unknown key (not one of: extension, name)",
        id="desk",
    ),
    pytest.param(
        edited('desks: ["1301", "1302"]\n', 'desks: ["1301", "1302"]\n    hours:\n'
               '      holidays:\n        - {date: 2026-03-02, name: "Họp", note: "x"}\n'),
        "branches[2].hours.holidays[0].note",
        'note: "x"',
        "unknown key (not one of: date, name)",
        id="branch-hours-holiday",
    ),
    pytest.param(
        edited("  max_silence_seconds: 10\n", "  max_silence_seconds: 10\n  beep: yes\n"),
        "voicemail.beep",
        "beep: yes",
        "unknown key (not one of: max_seconds, max_silence_seconds)",
        id="voicemail",
    ),
    pytest.param(
        edited("  timeout_seconds: 8\n", "  timeout_seconds: 8\n  retries: 2\n"),
        "survey.retries",
        "retries: 2",
        "unknown key (not one of: scale, skip_key, timeout_seconds, question, invalid, thanks)",
        id="survey",
    ),
    pytest.param(
        edited('  desk_code: "*9"\n', '  desk_code: "*9"\n  caller_code: "*8"\n'),
        "complaints.caller_code",
        'caller_code: "*8"',
        "unknown key (not one of: desk_code, resolve_within_working_days)",
        id="complaints",
    ),
    pytest.param(
        edited("voicemail:\n", "voicemai:\n  x: 1\nvoicemail:\n"),
        "voicemai",
        "voicemai:",
        "unknown key (not one of: hotline, menu, voicemail, survey, complaints, callbacks, "
        "callback, recording, presence, hours, "
        "branches, desks, stations, zalo)",
        id="top-level",
    ),
]


@pytest.mark.parametrize(("text", "field", "needle", "message"), UNKNOWN_KEYS)
def test_unknown_key_is_refused_with_its_line_path_and_the_allowed_keys(
    tmp_path: Path, text: str, field: str, needle: str, message: str
) -> None:
    path = write(tmp_path, text)
    error = refused(path)
    assert error.problems == [f"{path}:{line_of(text, needle)} {field}: {message}"]


# --- the survey and the complaint code -------------------------------------------------


def test_shipped_survey_and_complaint_code(shipped: HotlineConfig) -> None:
    survey = shipped.survey
    assert (survey.scale, survey.skip_key, survey.timeout_seconds) == (5, "0", 8.0)
    assert "{scale}" in survey.question and "{skip}" in survey.question
    assert shipped.complaints.desk_code == "*9"
    assert all(branch.survey for branch in shipped.branches)


def test_survey_and_complaints_sections_may_be_left_out(tmp_path: Path) -> None:
    start, end = SHIPPED_TEXT.index("\nsurvey:\n"), SHIPPED_TEXT.index("\nhours:\n")
    text = SHIPPED_TEXT[:start] + SHIPPED_TEXT[end:]
    assert "desk_code" not in text and "skip_key" not in text
    config = load_config(write(tmp_path, text))
    assert (config.survey.scale, config.survey.skip_key) == (5, "0")
    assert config.survey.timeout_seconds == 8.0
    assert config.complaints.desk_code == "*9"


def test_a_branch_may_turn_the_survey_off(tmp_path: Path) -> None:
    text = edited('desks: ["1901", "1902"]\n', 'desks: ["1901", "1902"]\n    survey: false\n')
    config = load_config(write(tmp_path, text))
    assert [b.key for b in config.branches if not b.survey] == [9]


def with_question(question: str) -> str:
    """The shipped YAML with the survey question (a folded scalar there) replaced."""
    start = SHIPPED_TEXT.index("  question: >-\n")
    end = SHIPPED_TEXT.index("\n", SHIPPED_TEXT.index("{skip} để bỏ qua.", start))
    return SHIPPED_TEXT[:start] + f'  question: "{question}"' + SHIPPED_TEXT[end:]


@pytest.mark.parametrize(
    "question",
    [
        "Nhấn phím từ 1 đến {scale}. Nhấn phím {skip} để bỏ qua.",
        "Nhấn phím {skip} để bỏ qua.",
        "Quý vị hài lòng không?",
        "Nhấn {{1}} đến {scale}.",  # doubled braces are literal ones
    ],
    ids=["both", "skip-only", "none", "literal-braces"],
)
def test_survey_question_with_known_placeholders_is_accepted(
    tmp_path: Path, question: str
) -> None:
    text = with_question(question)
    assert load_config(write(tmp_path, text)).survey.question == question


@pytest.mark.parametrize(
    ("placeholder", "why"),
    [
        ("{other}", "only {scale} and {skip} may appear in braces, not {other}"),
        ("{0}", "only {scale} and {skip} may appear in braces, not {0}"),
        ("{}", "only {scale} and {skip} may appear in braces, not {}"),
        ("{skip", "braces do not match (expected '}' before end of string)"),
    ],
    ids=["unknown-name", "positional", "empty", "unclosed"],
)
def test_survey_question_with_another_placeholder_is_refused_with_line_and_field(
    tmp_path: Path, placeholder: str, why: str
) -> None:
    text = edited("Nhấn phím {skip} để bỏ qua.", f"Nhấn phím {placeholder} để bỏ qua.")
    path = write(tmp_path, text)
    error = refused(path)
    [problem] = error.problems
    # A folded question spans several lines: the problem names the `question:` key's.
    assert problem == (
        f"{path}:{line_of(text, 'question: >-')} survey.question: Value error, {why}"
    )


@pytest.mark.parametrize("placeholder", ["{scale.x}", "{scale[0]}"],
                         ids=["attribute", "index"])
def test_survey_question_with_a_bad_field_access_is_a_config_error(
    tmp_path: Path, placeholder: str
) -> None:
    text = edited("Nhấn phím {skip} để bỏ qua.", f"Nhấn phím {placeholder} để bỏ qua.")
    path = write(tmp_path, text)
    error = refused(path)
    assert_names_line_and_field(error, line_of(text, "question: >-"), "survey.question")


@pytest.mark.parametrize("code", ["*9", "#7", "9", "*123", "0"])
def test_desk_code_of_an_optional_star_or_hash_and_1_to_3_digits_is_accepted(
    tmp_path: Path, code: str
) -> None:
    text = edited('desk_code: "*9"', f'desk_code: "{code}"')
    assert load_config(write(tmp_path, text)).complaints.desk_code == code


@pytest.mark.parametrize(
    "code", ["**9", "*", "#", "*1234", "9*", "a9", "", "* 9"],
    ids=["two-stars", "star-only", "hash-only", "four-digits", "star-last", "letter",
         "empty", "space"],
)
def test_other_desk_codes_are_refused_with_line_and_field(tmp_path: Path, code: str) -> None:
    text = edited('desk_code: "*9"', f'desk_code: "{code}"')
    path = write(tmp_path, text)
    error = refused(path)
    assert error.problems == [
        f"{path}:{line_of(text, 'desk_code:')} complaints.desk_code: "
        "String should match pattern '^[*#]?[0-9]{1,3}$'"
    ]


@pytest.mark.parametrize("scale", [2, 9])
def test_survey_scale_from_2_to_9_is_accepted(tmp_path: Path, scale: int) -> None:
    text = edited("  scale: 5\n", f"  scale: {scale}\n")
    assert load_config(write(tmp_path, text)).survey.scale == scale


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        ("  scale: 1", "survey.scale", "Input should be greater than or equal to 2"),
        ("  scale: 10", "survey.scale", "Input should be less than or equal to 9"),
        ('  skip_key: "5"', "survey.skip_key", "Input should be '0', '#' or '*'"),
        ("  timeout_seconds: 0", "survey.timeout_seconds", "Input should be greater than 0"),
        ("  timeout_seconds: 61", "survey.timeout_seconds",
         "Input should be less than or equal to 60"),
    ],
    ids=["scale-1", "scale-10", "skip-key-5", "timeout-0", "timeout-61"],
)
def test_survey_values_out_of_bounds_are_refused_with_line_and_field(
    tmp_path: Path, line: str, field: str, message: str
) -> None:
    name = line.split(":")[0]
    shipped_line = next(s for s in SHIPPED_TEXT.splitlines() if s.startswith(f"{name}:"))
    text = edited(f"{shipped_line}\n", f"{line}\n")
    path = write(tmp_path, text)
    assert refused(path).problems == [f"{path}:{line_of(text, line)} {field}: {message}"]


def test_branch_survey_must_be_a_boolean(tmp_path: Path) -> None:
    text = edited('desks: ["1901", "1902"]\n', 'desks: ["1901", "1902"]\n    survey: maybe\n')
    error = refused(write(tmp_path, text))
    assert_names_line_and_field(error, line_of(text, "survey: maybe"), "branches[8].survey")


# --- the survey's prompts ----------------------------------------------------------------


def test_survey_question_prompt_fills_in_the_scale_and_the_skip_key(
    shipped: HotlineConfig,
) -> None:
    texts = prompt_texts(shipped)
    question = texts[Prompt.SURVEY_QUESTION]
    assert question == (
        "Xin quý vị vui lòng đánh giá mức độ hài lòng với cuộc gọi vừa rồi. "
        "Nhấn phím từ 1 đến 5, với 5 là rất hài lòng. Nhấn phím 0 để bỏ qua."
    )
    assert texts[Prompt.SURVEY_INVALID] == "Phím vừa nhấn không hợp lệ."
    assert texts[Prompt.SURVEY_THANKS] == "Cảm ơn quý vị đã đánh giá. Xin chào và hẹn gặp lại."
    assert set(texts) == set(Prompt)


@pytest.mark.parametrize(
    ("skip_key", "spoken"), [("#", "thăng"), ("*", "sao"), ("0", "0")],
)
def test_survey_question_prompt_speaks_the_skip_key(
    shipped: HotlineConfig, skip_key: str, spoken: str
) -> None:
    survey = shipped.survey.model_copy(update={"scale": 3, "skip_key": skip_key})
    question = prompt_texts(shipped.model_copy(update={"survey": survey}))[
        Prompt.SURVEY_QUESTION]
    assert "Nhấn phím từ 1 đến 3, với 3 là rất hài lòng." in question
    assert question.endswith(f"Nhấn phím {spoken} để bỏ qua.")
    assert "{" not in question and "}" not in question


def test_survey_question_prompt_from_a_loaded_file(tmp_path: Path) -> None:
    text = edited('  skip_key: "0"\n', '  skip_key: "#"\n')
    text = edited("  scale: 5\n", "  scale: 4\n", text)
    question = prompt_texts(load_config(write(tmp_path, text)))[Prompt.SURVEY_QUESTION]
    assert "từ 1 đến 4, với 4 là rất hài lòng. Nhấn phím thăng để bỏ qua." in question


# --- `hotline config check` -------------------------------------------------------------


@pytest.fixture
def check(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """`hotline config check ARGS...` in-process: settings from a clean environment and
    no structlog set-up (which would keep pytest's captured stderr after the test)."""
    for name in ("HOTLINE_CONFIG", "HOTLINE_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOTLINE_SECRETS_FILE", str(tmp_path / "no-secrets.env"))
    monkeypatch.setattr(cli, "_configure_logging", lambda level: None)
    return lambda *args: cli.main(["config", "check", *args])


def test_config_check_prints_every_problem_and_fails(
    tmp_path: Path, check: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    text = edited("  - key: 9\n", "  - key: 10\n")
    text = edited('{extension: "1901"', '{extension: "19O1"', text)
    path = write(tmp_path, text)
    assert check(str(path)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"{path}:{line_of(text, '- key: 10')} branches[8].key: "
        "Input should be less than or equal to 9",
        f"{path}:{line_of(text, '19O1')} desks[16].extension: "
        "String should match pattern '^[0-9]{2,8}$'",
    ]


def test_config_check_reports_a_yaml_syntax_error_with_its_line(
    tmp_path: Path, check: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    text = edited("  max_attempts: 3\n", "  max_attempts: [3\n")
    path = write(tmp_path, text)
    assert check(str(path)) == 2
    [problem] = capsys.readouterr().err.splitlines()
    assert problem.startswith(f"{path}:")
    line = int(problem.removeprefix(f"{path}:").split(" ", 1)[0])
    assert line >= line_of(text, "max_attempts: [3")  # where the parser gave up
    assert " not valid YAML: " in problem


def test_config_check_accepts_the_shipped_file(
    check: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check(str(SHIPPED)) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out == (f"{SHIPPED}: OK — 9 branches, 18 desks, 106 stations, hotline 19001080\n")


def test_config_check_without_a_file_checks_the_configured_one(
    tmp_path: Path, check: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "missing.yaml"
    monkeypatch.setenv("HOTLINE_CONFIG", str(path))
    assert check() == 2
    assert capsys.readouterr().err == f"{path}: cannot read file: No such file or directory\n"


# --- text that ends up in Asterisk's files: one line, no control characters ---------

HOSTILE_TEXT = [
    pytest.param(
        '{extension: "1101", name: "Sở Nội vụ – chỉ đạo điều hành"}',
        '{extension: "1101", name: "Sở Nội vụ\\n[9999]\\ntype = endpoint"}',
        "desks[0].name", id="desk-name-with-newline",
    ),
    pytest.param(
        '{extension: "2001", agency: "Sở Nội vụ", kind: department}',
        '{extension: "2001", agency: "Sở Nội vụ\\r[9999]", kind: department}',
        "stations[0].agency", id="station-agency-with-carriage-return",
    ),
    pytest.param(
        '{date: 2026-01-01, name: "Tết Dương lịch"}',
        '{date: 2026-01-01, name: "Tết\\n[hotline-desks]\\nexten => _X.,1,Dial(PJSIP/x)"}',
        "hours.holidays[0].name", id="holiday-name-with-newline",
    ),
    pytest.param(
        'name: "Tổng đài hỗ trợ công tác cải cách hành chính tỉnh Hậu Giang"',
        'name: "Tổng đài\\x1b[2J"',
        "hotline.name", id="hotline-name-with-escape",
    ),
    pytest.param(
        '  - key: 9\n    name: "Tư vấn các vấn đề khác"',
        '  - key: 9\n    name: "Tư vấn\\tcác vấn đề khác"',
        "branches[8].name", id="branch-name-with-tab",
    ),
]


@pytest.mark.parametrize(("old", "new", "field"), HOSTILE_TEXT)
def test_names_with_control_characters_are_refused_naming_line_and_field(
    tmp_path: Path, old: str, new: str, field: str
) -> None:
    text = edited(old, new)
    error = refused(write(tmp_path, text))
    assert_names_line_and_field(error, line_of(text, new.splitlines()[-1]), field)
    assert "control character" in str(error)


def test_config_check_refuses_a_desk_name_that_would_add_an_endpoint(
    tmp_path: Path, check: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    text = edited('name: "Hiệp hội doanh nghiệp tỉnh"}',
                  'name: "Hiệp hội\\n\\n[9999]\\ntype = endpoint\\ncontext = hotline-desks"}')
    path = write(tmp_path, text)
    assert check(str(path)) == 2
    [problem] = capsys.readouterr().err.splitlines()
    assert problem.startswith(f"{path}:{line_of(text, '[9999]')} desks[2].name: ")
    assert "U+000A" in problem


def test_menu_prose_may_span_lines_but_not_carry_other_control_characters(
    tmp_path: Path,
) -> None:
    block = '  intro: |\n    Xin vui lòng chọn\n    lĩnh vực cần hỗ trợ.\n'
    ok = load_config(write(tmp_path, edited('  intro: "Xin vui lòng chọn lĩnh vực cần hỗ trợ."\n',
                                            block)))
    assert ok.menu.intro == "Xin vui lòng chọn\nlĩnh vực cần hỗ trợ."
    text = edited('intro: "Xin vui lòng chọn lĩnh vực cần hỗ trợ."',
                  'intro: "Xin vui lòng\\x07 chọn lĩnh vực."')
    error = refused(write(tmp_path, text))
    assert_names_line_and_field(error, line_of(text, "intro:"), "menu.intro")


# --- menu texts an admin may leave out ------------------------------------------------

DEFAULTED_MENU_TEXTS = ("invalid", "no_input", "connecting", "desk_unreachable", "goodbye")


def test_a_first_file_without_the_common_menu_texts_validates_with_vietnamese_defaults(
    tmp_path: Path,
) -> None:
    text = SHIPPED_TEXT
    for key in DEFAULTED_MENU_TEXTS:
        text = "".join(line for line in text.splitlines(keepends=True)
                       if not line.startswith(f"  {key}: "))
        assert f"  {key}:" not in text
    menu = load_config(write(tmp_path, text)).menu
    for key in DEFAULTED_MENU_TEXTS:
        value = getattr(menu, key)
        assert value and value == value.strip() and value.endswith(".")
        assert len(value) <= 120  # short: said before the menu or a desk, not a speech
        # Vietnamese, said politely to the caller ("quý vị", "xin")
        assert any(unicodedata.category(c) == "Mn" or ord(c) > 0x7F for c in value)
    assert "quý vị" in menu.invalid.lower() and "quý vị" in menu.no_input.lower()
    assert "cảm ơn" in menu.goodbye.lower()
