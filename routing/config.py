"""The hotline's YAML configuration as pydantic models, and its loader.

`load_config` is the only way in: it parses the YAML, validates it and, when
anything is wrong, raises `ConfigError` naming the file, the line and the field
so an admin can fix the file without reading a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from routing.hours import Calendar, Holiday, Period, Weekday, parse_period

Extension = Annotated[str, StringConstraints(pattern=r"^[0-9]{2,8}$")]
DialNumber = Annotated[str, StringConstraints(pattern=r"^\+?[0-9]{3,15}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HotlineInfo(_Strict):
    name: Text
    number: DialNumber


class MenuConfig(_Strict):
    greeting: Text
    intro: Text
    invalid: Text
    no_input: Text
    connecting: Text
    desk_unreachable: Text
    goodbye: Text
    repeat_hint: Text = "Nhấn phím sao để nghe lại."
    closed: Text = (
        "Tổng đài hiện ngoài giờ làm việc. Giờ làm việc từ thứ Hai đến thứ Sáu, "
        "buổi sáng từ 7 giờ đến 11 giờ 30, buổi chiều từ 13 giờ 30 đến 17 giờ."
    )
    holiday: Text = "Hôm nay là ngày nghỉ lễ, tổng đài tạm ngưng tiếp nhận cuộc gọi."
    still_trying: Text = "Cán bộ phụ trách đang bận, xin quý vị vui lòng giữ máy."
    leave_message: Text = (
        "Xin quý vị để lại họ tên, số điện thoại và nội dung cần hỗ trợ sau tiếng bíp. "
        "Nhấn phím thăng khi kết thúc. Cán bộ sẽ gọi lại cho quý vị."
    )
    message_saved: Text = "Lời nhắn của quý vị đã được ghi lại. Xin cảm ơn quý vị."
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


class HoursOverride(_Strict):
    """A branch's own hours; what it leaves out comes from the hotline's `hours`."""

    days: list[Weekday] | None = None
    periods: list[Annotated[Period, BeforeValidator(parse_period)]] | None = None
    holidays: list[Holiday] | None = None
    extra_working_days: list[Holiday] | None = None


Strategy = Literal["sequential", "ringall"]
StationKind = Literal["department", "district", "commune", "other"]


class Branch(_Strict):
    key: int = Field(ge=1, le=9)
    name: Text
    agency: Text
    desks: list[Extension] = Field(min_length=1)
    strategy: Strategy = "sequential"
    # How long one desk (or, for ringall, all desks at once) rings.
    ring_timeout_seconds: int = Field(default=20, ge=2, le=120)
    # Overall limit on the caller's wait for a desk, across every attempt.
    max_wait_seconds: int = Field(default=60, ge=5, le=600)
    hours: HoursOverride | None = None


class Desk(_Strict):
    extension: Extension
    name: Text


class Station(_Strict):
    """An agency's line on the switchboard (one per Sở, district and commune UBND)."""

    extension: Extension
    agency: Text
    kind: StationKind = "other"


class HotlineConfig(_Strict):
    hotline: HotlineInfo
    menu: MenuConfig
    voicemail: VoicemailConfig = VoicemailConfig()
    hours: Calendar = Calendar()
    branches: list[Branch] = Field(min_length=1, max_length=9)
    desks: list[Desk] = Field(min_length=1)
    stations: list[Station] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references_resolve(self) -> HotlineConfig:
        keys = [b.key for b in self.branches]
        duplicated = sorted({k for k in keys if keys.count(k) > 1})
        if duplicated:
            raise ValueError(f"branch key(s) used more than once: {duplicated}")
        extensions = [d.extension for d in self.desks]
        twice = sorted({e for e in extensions if extensions.count(e) > 1})
        if twice:
            raise ValueError(f"desk extension(s) listed more than once: {twice}")
        known = set(extensions)
        stations = [s.extension for s in self.stations]
        clash = sorted({e for e in stations if stations.count(e) > 1 or e in known})
        if clash:
            raise ValueError(f"station extension(s) used twice or also by a desk: {clash}")
        if self.hotline.number in stations:
            raise ValueError(f"hotline number {self.hotline.number} is also a station")
        if self.menu.default_branch is not None and self.menu.default_branch not in keys:
            raise ValueError(f"menu.default_branch {self.menu.default_branch} is not a branch key")
        for branch in self.branches:
            missing = [e for e in branch.desks if e not in known]
            if missing:
                raise ValueError(
                    f"branch {branch.key} ({branch.name}) names desk(s) {missing} "
                    "that are not in 'desks'"
                )
        if self.hotline.number in known:
            raise ValueError(f"hotline number {self.hotline.number} is also a desk extension")
        return self

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
        override = branch.hours.model_dump(exclude_none=True)
        return self.hours.model_copy(update=override)


class ConfigError(Exception):
    """The configuration file cannot be used; the message says where and why."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: invalid configuration:\n" + "\n".join(problems))


def load_config(path: Path | str) -> HotlineConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, [f"cannot read file: {exc.strerror}"]) from exc
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> HotlineConfig:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(path, [f"not valid YAML: {exc}"]) from exc
    if not isinstance(data, dict):
        raise ConfigError(path, ["line 1: the file must be a mapping (hotline:, menu:, ...)"])
    try:
        return HotlineConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            field = ".".join(str(p) for p in loc) or "(top level)"
            line = _line_of(root, loc)
            problems.append(f"line {line}: {field}: {err['msg']}")
        raise ConfigError(path, problems) from exc


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int:
    """1-based line of the deepest YAML node that `loc` reaches."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if part < len(node.value) else None
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line
