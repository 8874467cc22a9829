"""The hotline's YAML configuration as pydantic models, and its loader.

`load_config` is the only way in: it parses the YAML, validates it and, when
anything is wrong, raises `ConfigError` naming the file, the line and the field
so an admin can fix the file without reading a traceback. Each problem reads

    config/hotline.yaml:42 branches[3].desks[0]: String should match pattern ...

(`file:line field: message`; `file:line message` or `file: message` when there is
no field or no line).
"""

from __future__ import annotations

import re
import string
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from routing.callback import DEFAULT_ALLOWED, PROBE_NUMBERS
from routing.hours import Calendar, Holiday, Period, Weekday, parse_period
from routing.text import Name, Prose

Extension = Annotated[str, StringConstraints(pattern=r"^[0-9]{2,8}$")]
DialNumber = Annotated[str, StringConstraints(pattern=r"^\+?[0-9]{3,15}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HotlineInfo(_Strict):
    name: Name
    number: DialNumber


class MenuConfig(_Strict):
    greeting: Prose
    intro: Prose
    invalid: Prose = "Phím quý vị vừa nhấn không đúng."
    no_input: Prose = "Quý vị chưa nhấn phím nào."
    connecting: Prose = (
        "Xin quý vị vui lòng chờ trong giây lát, cuộc gọi đang được chuyển đến "
        "cán bộ phụ trách."
    )
    desk_unreachable: Prose = "Hiện cán bộ phụ trách đang bận hoặc vắng mặt."
    goodbye: Prose = "Xin cảm ơn quý vị đã gọi đến tổng đài. Xin chào và hẹn gặp lại."
    repeat_hint: Prose = "Nhấn phím sao để nghe lại."
    closed: Prose = (
        "Tổng đài hiện ngoài giờ làm việc. Giờ làm việc từ thứ Hai đến thứ Sáu, "
        "buổi sáng từ 7 giờ đến 11 giờ 30, buổi chiều từ 13 giờ 30 đến 17 giờ."
    )
    holiday: Prose = "Hôm nay là ngày nghỉ lễ, tổng đài tạm ngưng tiếp nhận cuộc gọi."
    still_trying: Prose = "Cán bộ phụ trách đang bận, xin quý vị vui lòng giữ máy."
    leave_message: Prose = (
        "Xin quý vị để lại họ tên, số điện thoại và nội dung cần hỗ trợ sau tiếng bíp. "
        "Nhấn phím thăng khi kết thúc. Cán bộ sẽ gọi lại cho quý vị."
    )
    message_saved: Prose = "Lời nhắn của quý vị đã được ghi lại. Xin cảm ơn quý vị."
    # The message could not be recorded (Asterisk's recording failed): said instead.
    message_failed: Prose = (
        "Rất tiếc, hệ thống chưa ghi được lời nhắn của quý vị. "
        "Cán bộ sẽ gọi lại cho quý vị theo số máy này. Xin cảm ơn quý vị."
    )
    message_failed_no_number: Prose = (
        "Rất tiếc, hệ thống chưa ghi được lời nhắn của quý vị. "
        "Xin quý vị vui lòng gọi lại sau. Xin cảm ơn quý vị."
    )
    digit_timeout_seconds: float = Field(default=6.0, gt=0, le=60)
    max_attempts: int = Field(default=3, ge=1, le=10)
    # After max_attempts without a valid key the caller is put through to this
    # branch (general advice) instead of being hung up on; null: say goodbye.
    default_branch: int | None = Field(default=9, ge=1, le=9)
    # Ringing longer than this: tell the caller we are still trying (once).
    still_trying_after_seconds: int = Field(default=20, ge=5, le=300)


class VoicemailConfig(_Strict):
    max_seconds: int = Field(default=120, ge=10, le=600)
    # Quiet this long ends the message (a caller who forgot to press #).
    max_silence_seconds: int = Field(default=10, ge=3, le=60)


class SurveyConfig(_Strict):
    """The post-call satisfaction survey: offered when the desk hangs up first."""

    scale: int = Field(default=5, ge=2, le=9)
    """Keys 1..scale rate the call; on the default scale 4-5 count as satisfied."""
    skip_key: Literal["0", "#", "*"] = "0"
    timeout_seconds: float = Field(default=8.0, gt=0, le=60)
    question: Prose = (
        "Xin quý vị vui lòng đánh giá mức độ hài lòng với cuộc gọi vừa rồi. "
        "Nhấn phím từ 1 đến {scale}, với {scale} là rất hài lòng. "
        "Nhấn phím {skip} để bỏ qua."
    )
    invalid: Prose = "Phím vừa nhấn không hợp lệ."
    thanks: Prose = "Cảm ơn quý vị đã đánh giá. Xin chào và hẹn gặp lại."

    @field_validator("question")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        try:
            fields = {name for _, name, spec, conv in string.Formatter().parse(value)
                      if name is not None or spec or conv}
        except ValueError as exc:
            raise ValueError(f"braces do not match ({exc})") from None
        unknown = sorted(str(f) for f in fields - {"scale", "skip"})
        if unknown:
            raise ValueError("only {scale} and {skip} may appear in braces, not "
                             + ", ".join(f"{{{f}}}" for f in unknown))
        return value


class ComplaintConfig(_Strict):
    """How a desk flags the call in progress as a complaint ("phản ánh, kiến nghị")."""

    desk_code: Annotated[str, StringConstraints(pattern=r"^[*#]?[0-9]{1,3}$")] = "*9"
    resolve_within_working_days: int = Field(default=10, ge=1, le=90)
    """A case's deadline: the end of this many working days after the day it was
    received (the hotline's `hours`, holidays and make-up days; `routing.workdays`)."""


class CallbacksConfig(_Strict):
    """Following up calls nobody answered."""

    overdue_after_working_hours: float = Field(default=8.0, gt=0, le=400)
    """A pending call back is overdue once this much working time (the hotline's
    `hours`) has passed since the call: by default one working day of 8 hours."""


class CallbackConfig(_Strict):
    """Keep-your-place call-backs through an outgoing trunk (`routing.callback`); off
    while `trunk` is unset. Only the service dials the trunk (ARI), never the dialplan."""

    trunk: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{1,30}$")] | None = None
    """The PJSIP endpoint of the outgoing trunk (generated by `dialplan.generate`)."""
    contact: Annotated[str, StringConstraints(
        pattern=r"^sips?:[A-Za-z0-9.-]+(:[0-9]{1,5})?$")] | None = None
    """The provider's SIP address (`sip:host[:port]`); unset: the provider registers
    with the trunk's name and its password (`hotline secrets desks`)."""
    key: Literal["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"] = "1"
    """Pressed while queued: hang up and be called back, keeping the place."""
    attempts: int = Field(default=3, ge=1, le=10)
    retry_seconds: int = Field(default=120, ge=5, le=3600)
    ring_seconds: int = Field(default=30, ge=5, le=120)
    """How long the citizen's phone rings on each try."""
    max_tries_per_number_per_day: int = Field(default=3, ge=1, le=10)
    """Automatic tries at one number in any 24 hours, whatever call they come from; above
    it the call back is refused and stays on the operators' list."""
    allowed: list[str] = Field(default_factory=lambda: list(DEFAULT_ALLOWED), min_length=1)
    """Regular expressions over the national number (digits only, `0...`)."""

    @field_validator("allowed")
    @classmethod
    def _patterns_compile(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} is no regular expression: {exc}") from None
            opened = [n for n in PROBE_NUMBERS if re.fullmatch(pattern, n)]
            if opened:
                raise ValueError(f"pattern {pattern!r} is too wide: it matches "
                                 + ", ".join(opened)
                                 + " (only national numbers 0... of 10-11 digits)")
        return value

    @property
    def enabled(self) -> bool:
        return self.trunk is not None


class RecordingConfig(_Strict):
    """Calls recorded for quality review (branches with `record_calls: true`)."""

    retention_days: int = Field(default=90, ge=1, le=3650)
    """Recordings older than this are deleted by the service."""
    notice: Prose = (
        "Cuộc gọi có thể được ghi âm để phục vụ việc nâng cao chất lượng. "
        "Xin cảm ơn quý vị."
    )
FeatureCode = Annotated[str, StringConstraints(pattern=r"^\*[0-9]{2,3}$")]


class PresenceConfig(_Strict):
    """The codes a desk dials to log in or out and to pause or resume (`pause_code` may be
    followed by one reason digit)."""

    login_code: FeatureCode = "*45"
    pause_code: FeatureCode = "*46"
    repeat_caller_days: int = Field(default=7, ge=1, le=90)
    """A number that called this many days back or less counts as a repeat caller."""


class HoursOverride(_Strict):
    """A branch's own hours; what it leaves out comes from the hotline's `hours`."""

    days: list[Weekday] | None = None
    periods: list[Annotated[Period, BeforeValidator(parse_period)]] | None = None
    holidays: list[Holiday] | None = None
    extra_working_days: list[Holiday] | None = None


class QueueConfig(_Strict):
    """A branch's queue (`routing.queue`): on by default, as callers of a public hotline
    expect to wait their turn rather than be sent to a message because a desk talks."""

    enabled: bool = True
    announce_every_seconds: int = Field(default=30, ge=10, le=300)
    """The caller hears their position (and the expected wait) on joining and this often."""
    max_wait_seconds: int = Field(default=300, ge=10, le=3600)
    """Waiting longer leads to the message and call-back path."""
    music: Literal["tone", "silence"] = "tone"
    """Between announcements: a generated soft tone (`hotline.prompts`), or silence."""


Strategy = Literal["sequential", "ringall", "least_recent", "fewest_calls"]
StationKind = Literal["department", "district", "commune", "other"]


class Branch(_Strict):
    key: int = Field(ge=1, le=9)
    name: Name
    agency: Name
    desks: list[Extension] = Field(min_length=1)
    strategy: Strategy = "sequential"
    # How long one desk (or, for ringall, all desks at once) rings.
    ring_timeout_seconds: int = Field(default=20, ge=2, le=120)
    # Overall limit on the caller's wait for a desk, across every attempt.
    max_wait_seconds: int = Field(default=60, ge=5, le=600)
    hours: HoursOverride | None = None
    survey: bool = True
    """Offer the satisfaction survey after calls of this branch."""
    record_calls: bool = False
    """Record its calls (both sides) for quality review; the caller is told first."""
    queue: QueueConfig = QueueConfig()
    wrap_up_seconds: int = Field(default=0, ge=0, le=600)
    """After each call, the desk that took it is not offered another for this long."""


class Desk(_Strict):
    extension: Extension
    name: Name


class Station(_Strict):
    """An agency's line on the switchboard (one per Sở, district and commune UBND)."""

    extension: Extension
    agency: Name
    kind: StationKind = "other"


ZnsTemplateId = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,32}$")]


class ZnsNotice(_Strict):
    """One ZNS notification, switched on by being present: the template Zalo approved
    for it (its id, as ZNS's template list shows it)."""

    template_id: ZnsTemplateId
    max_attempts: int = Field(default=5, ge=1, le=20)
    """Tries before the send is given up as failed (retried with backoff between)."""


class ZnsConfig(_Strict):
    """The ZNS messages sent by phone number; each is off while absent."""

    case_opened: ZnsNotice | None = None
    """After a call that opened a case: its code and deadline."""
    case_resolved: ZnsNotice | None = None
    """When a case opened from a call is resolved: the result."""
    call_rating: ZnsNotice | None = None
    """After a connected call whose caller did not answer the keypad survey: the 1-5
    star rating template."""
    campaign_rating: ZnsNotice | None = None
    """The rating template for survey campaigns (the console's Khảo sát Zalo page)."""


class ZaloConfig(_Strict):
    """The Zalo Official Account channel (secrets live in the secrets file, never here)."""

    zns: ZnsConfig = ZnsConfig()


class HotlineConfig(_Strict):
    hotline: HotlineInfo
    menu: MenuConfig
    voicemail: VoicemailConfig = VoicemailConfig()
    survey: SurveyConfig = SurveyConfig()
    complaints: ComplaintConfig = ComplaintConfig()
    callbacks: CallbacksConfig = CallbacksConfig()
    callback: CallbackConfig = CallbackConfig()
    recording: RecordingConfig = RecordingConfig()
    presence: PresenceConfig = PresenceConfig()
    hours: Calendar = Calendar()
    branches: list[Branch] = Field(min_length=1, max_length=9)
    desks: list[Desk] = Field(min_length=1)
    stations: list[Station] = Field(default_factory=list)
    zalo: ZaloConfig = ZaloConfig()

    @model_validator(mode="after")
    def _references_resolve(self) -> HotlineConfig:
        problems = self._cross_problems()
        if problems:
            raise CrossReferenceError(problems)
        return self

    def _cross_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Problems between fields, each with the location of the offending value."""
        problems: list[tuple[tuple[str | int, ...], str]] = []
        seen_keys: set[int] = set()
        for i, branch in enumerate(self.branches):
            if branch.key in seen_keys:
                problems.append((("branches", i, "key"), f"branch key {branch.key} is used "
                                 "more than once"))
            seen_keys.add(branch.key)
        desk_exts: set[str] = set()
        for i, desk in enumerate(self.desks):
            if desk.extension in desk_exts:
                problems.append((("desks", i, "extension"), f"desk extension {desk.extension} "
                                 "is listed more than once"))
            desk_exts.add(desk.extension)
        for i, branch in enumerate(self.branches):
            for j, ext in enumerate(branch.desks):
                if ext not in desk_exts:
                    problems.append((("branches", i, "desks", j), f"branch {branch.key} names "
                                     f"desk {ext}, which is not in 'desks'"))
        station_exts: set[str] = set()
        for i, station in enumerate(self.stations):
            if station.extension in station_exts or station.extension in desk_exts:
                problems.append((("stations", i, "extension"), f"station extension "
                                 f"{station.extension} is used twice or also by a desk"))
            station_exts.add(station.extension)
        number = self.hotline.number
        if number in desk_exts or number in station_exts:
            problems.append((("hotline", "number"), f"hotline number {number} is also a desk "
                             "extension" if number in desk_exts else f"hotline number {number} "
                             "is also a station"))
        trunk = self.callback.trunk
        if trunk is not None and trunk in {"trunk", *desk_exts, *station_exts}:
            problems.append((("callback", "trunk"), f"trunk {trunk} is also the public trunk, "
                             "a desk or a station"))
        default = self.menu.default_branch
        if default is not None and default not in seen_keys:
            problems.append((("menu", "default_branch"), f"default_branch {default} is not a "
                             "branch key"))
        return problems

    def branch(self, key: int) -> Branch | None:
        return next((b for b in self.branches if b.key == key), None)

    def desk(self, extension: str) -> Desk | None:
        return next((d for d in self.desks if d.extension == extension), None)

    def station(self, extension: str) -> Station | None:
        return next((s for s in self.stations if s.extension == extension), None)

    def calendar(self, branch: Branch | None = None) -> Calendar:
        """The hours that apply to `branch` (the hotline's own when None)."""
        if branch is None or branch.hours is None:
            return self.hours
        # Field by field, keeping the validated models (a dump would leave dicts).
        override = {name: value for name, value in branch.hours if value is not None}
        return self.hours.model_copy(update=override)


class CrossReferenceError(ValueError):
    """Fields that are each valid but do not fit together; each problem has its location."""

    def __init__(self, problems: list[tuple[tuple[str | int, ...], str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(message for _, message in problems))


class ConfigError(Exception):
    """The configuration file cannot be used; the message says where and why."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: invalid configuration:\n" + "\n".join(problems))


def load_config(path: Path | str) -> HotlineConfig:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise unreadable(path, exc) from exc
    return config_from_bytes(data, path)


def unreadable(path: Path, exc: OSError) -> ConfigError:
    return ConfigError(path, [_problem(path, None, f"cannot read file: {exc.strerror}")])


def config_from_bytes(data: bytes, path: Path) -> HotlineConfig:
    """The config in `data`, the file's content as read once (`path` names it in problems)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(path, [_problem(
            path, line, f"the file must be saved as UTF-8 (byte {exc.start} is not)"
        )]) from exc
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> HotlineConfig:
    try:
        root = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ConfigError(path, [_yaml_problem(path, exc)]) from exc
    duplicates = _duplicate_keys(root)
    if duplicates:
        raise ConfigError(path, [
            _problem(path, line, "given twice (only one is allowed)", loc)
            for loc, line in duplicates
        ])
    if not isinstance(data, dict):
        raise ConfigError(
            path, [_problem(path, 1, "the file must be a mapping (hotline:, menu:, ...)")]
        )
    try:
        return HotlineConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            cause = err.get("ctx", {}).get("error")
            located = (
                [(tuple(err["loc"]) + loc, msg) for loc, msg in cause.problems]
                if isinstance(cause, CrossReferenceError)
                else [(tuple(err["loc"]), _message(err["type"], tuple(err["loc"]), err["msg"]))]
            )
            for loc, msg in located:
                problems.append(_problem(path, _line_of(root, loc), msg, loc))
        raise ConfigError(path, problems) from exc


def _problem(
    path: Path, line: int | None, message: str, loc: tuple[str | int, ...] | None = None
) -> str:
    """One problem as `file:line field: message` (`file:line message` without a field,
    `file: message` without a line)."""
    where = f"{path}:{line}" if line is not None else f"{path}:"
    if loc is None:
        return f"{where} {message}"
    return f"{where} {_field_path(loc)}: {message}"


def _field_path(loc: tuple[str | int, ...]) -> str:
    """`("branches", 3, "desks", 0)` as `branches[3].desks[0]`; `()` as `(top level)`."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _yaml_problem(path: Path, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if not isinstance(exc, yaml.MarkedYAMLError) or mark is None:
        return _problem(path, None, f"not valid YAML: {exc}")
    what = "; ".join(str(part) for part in (exc.context, exc.problem) if part)
    return _problem(
        path, mark.line + 1, f"not valid YAML: {what or 'syntax error'} (column {mark.column + 1})"
    )


def _message(kind: str, loc: tuple[str | int, ...], default: str) -> str:
    """Pydantic's message, or a friendlier one where it has a better one to give."""
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        if model is not None:
            return f"unknown key (not one of: {', '.join(model.model_fields)})"
        return "unknown key"
    return default


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model that validates the mapping at `loc` (None when `loc` is not a model)."""
    kind: Any = HotlineConfig
    for part in loc:
        kind = _unwrapped(kind)
        if isinstance(part, int):
            if get_origin(kind) is not list:
                return None
            kind = get_args(kind)[0]
        elif isinstance(kind, type) and issubclass(kind, BaseModel) and part in kind.model_fields:
            kind = kind.model_fields[part].annotation
        else:
            return None
    kind = _unwrapped(kind)
    return kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None


def _unwrapped(kind: Any) -> Any:
    """`kind` without `Annotated[...]` and without `| None`."""
    while True:
        origin = get_origin(kind)
        if origin is Annotated:
            kind = get_args(kind)[0]
        elif origin in (Union, types.UnionType):
            options = [arg for arg in get_args(kind) if arg is not type(None)]
            if len(options) != 1:
                return kind
            kind = options[0]
        else:
            return kind


class _Loader(yaml.SafeLoader):
    """SafeLoader that leaves dates as text, so pydantic checks them (and an
    impossible date such as 2026-02-30 is reported with its line, not a traceback)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _duplicate_keys(
    node: yaml.Node | None, loc: tuple[str | int, ...] = ()
) -> list[tuple[tuple[str | int, ...], int]]:
    """Mapping keys given twice (PyYAML silently keeps the last), with their line."""
    found: list[tuple[tuple[str | int, ...], int]] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            here = (*loc, key.value)
            if key.value in seen:
                found.append((here, key.start_mark.line + 1))
            seen.add(key.value)
            found.extend(_duplicate_keys(value, here))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found.extend(_duplicate_keys(item, (*loc, i)))
    return found


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int:
    """1-based line of what `loc` names: the key's line when it ends at a mapping key
    (`voicemail:` rather than the first line under it), else the deepest node it reaches."""
    line = node.start_mark.line + 1 if node is not None else 1
    for depth, part in enumerate(loc, start=1):
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == part), None)
            if pair is not None:
                key, child = pair
                if depth == len(loc):
                    return int(key.start_mark.line) + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if part < len(node.value) else None
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line
