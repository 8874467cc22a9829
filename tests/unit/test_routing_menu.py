"""`routing.menu.decide_menu`, exhaustively: every key of a phone (and silence) on
every attempt, with and without a default branch, for several attempt limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest

from routing.config import HotlineConfig, load_config
from routing.menu import GiveUp, Reprompt, SelectBranch, decide_menu

SHIPPED = load_config(Path(__file__).resolve().parents[2] / "config" / "hotline.yaml")

BRANCH_KEYS = [str(k) for k in range(1, 10)]
NOT_A_BRANCH = ["0", "#", "A", "B", "C", "D"]  # DTMF has 16 keys; A-D only on some phones
EVERY_KEY = ["0", *BRANCH_KEYS, "*", "#", "A", "B", "C", "D"]
Reason = Literal["invalid", "no_input"]


def with_menu(config: HotlineConfig, **changes: Any) -> HotlineConfig:
    return config.model_copy(update={"menu": config.menu.model_copy(update=changes)})


NO_DEFAULT = with_menu(SHIPPED, default_branch=None)

WITHOUT_DEFAULT = [
    pytest.param(NO_DEFAULT, id="3-attempts"),
    pytest.param(with_menu(NO_DEFAULT, max_attempts=1), id="1-attempt"),
    pytest.param(with_menu(NO_DEFAULT, max_attempts=5), id="5-attempts"),
]
WITH_DEFAULT = [
    pytest.param(SHIPPED, id="shipped-default-9"),
    pytest.param(with_menu(SHIPPED, max_attempts=1), id="default-9-1-attempt"),
    pytest.param(with_menu(SHIPPED, default_branch=2, max_attempts=5), id="default-2-5-attempts"),
]
WRONG_OR_SILENT = pytest.mark.parametrize(
    ("digit", "reason"),
    [*[(d, "invalid") for d in NOT_A_BRANCH], (None, "no_input")],
    ids=[*NOT_A_BRANCH, "silence"],
)


def attempts(config: HotlineConfig) -> range:
    return range(1, config.menu.max_attempts + 1)


def test_shipped_menu_allows_three_attempts_then_the_general_branch() -> None:
    assert SHIPPED.menu.max_attempts == 3
    assert SHIPPED.menu.default_branch == 9


@pytest.mark.parametrize("config", WITHOUT_DEFAULT + WITH_DEFAULT)
@pytest.mark.parametrize("digit", BRANCH_KEYS)
def test_branch_key_selects_its_branch_on_every_attempt(config: HotlineConfig, digit: str) -> None:
    branch = config.branch(int(digit))
    assert branch is not None
    for attempt in attempts(config):
        assert decide_menu(config, digit, attempt) == SelectBranch(branch)


@pytest.mark.parametrize("config", WITHOUT_DEFAULT + WITH_DEFAULT)
def test_star_repeats_the_menu_on_every_attempt(config: HotlineConfig) -> None:
    for attempt in attempts(config):
        assert decide_menu(config, "*", attempt) == Reprompt("repeat")


@pytest.mark.parametrize("config", WITHOUT_DEFAULT)
@WRONG_OR_SILENT
def test_wrong_key_or_silence_reprompts_then_gives_up_on_the_last_attempt(
    config: HotlineConfig, digit: str | None, reason: Reason
) -> None:
    last = config.menu.max_attempts
    for attempt in range(1, last):
        assert decide_menu(config, digit, attempt) == Reprompt(reason)
    assert decide_menu(config, digit, last) == GiveUp(reason)


@pytest.mark.parametrize("config", WITH_DEFAULT)
@WRONG_OR_SILENT
def test_wrong_key_or_silence_on_the_last_attempt_puts_through_to_the_default_branch(
    config: HotlineConfig, digit: str | None, reason: Reason
) -> None:
    last = config.menu.max_attempts
    for attempt in range(1, last):
        assert decide_menu(config, digit, attempt) == Reprompt(reason)
    assert config.menu.default_branch is not None
    default = config.branch(config.menu.default_branch)
    assert default is not None
    assert decide_menu(config, digit, last) == SelectBranch(default, by_default=True)


@pytest.mark.parametrize("config", WITHOUT_DEFAULT + WITH_DEFAULT)
def test_decision_table_for_every_key_and_attempt(config: HotlineConfig) -> None:
    last = config.menu.max_attempts
    default = config.menu.default_branch
    for attempt in attempts(config):
        for digit in [*EVERY_KEY, None]:
            decision = decide_menu(config, digit, attempt)
            if digit in BRANCH_KEYS:
                assert decision == SelectBranch(config.branches[int(digit) - 1]), digit
            elif digit == "*":
                assert decision == Reprompt("repeat")
            elif attempt < last:
                assert decision == Reprompt("no_input" if digit is None else "invalid")
            elif default is not None:
                assert isinstance(decision, SelectBranch) and decision.by_default
                assert decision.branch.key == default
            else:
                assert decision == GiveUp("no_input" if digit is None else "invalid")


def test_attempt_past_the_limit_still_ends_the_menu() -> None:
    assert decide_menu(NO_DEFAULT, "0", 4) == GiveUp("invalid")
    assert decide_menu(NO_DEFAULT, None, 4) == GiveUp("no_input")
    decision = decide_menu(SHIPPED, None, 4)
    assert isinstance(decision, SelectBranch) and decision.branch.key == 9


@pytest.mark.parametrize("digit", ["", "12", "44", " 4", "4 ", "**"])
def test_anything_but_one_key_is_invalid(digit: str) -> None:
    assert decide_menu(SHIPPED, digit, 1) == Reprompt("invalid")


def test_key_of_a_branch_not_configured_is_invalid() -> None:
    three = NO_DEFAULT.model_copy(update={"branches": NO_DEFAULT.branches[:3]})
    assert isinstance(decide_menu(three, "3", 1), SelectBranch)
    assert decide_menu(three, "4", 1) == Reprompt("invalid")
    assert decide_menu(three, "9", three.menu.max_attempts) == GiveUp("invalid")


def test_chosen_branch_is_the_configured_one_and_not_by_default() -> None:
    decision = decide_menu(SHIPPED, "4", 1)
    assert isinstance(decision, SelectBranch)
    assert decision.branch is SHIPPED.branch(4)
    assert decision.by_default is False
    assert decision.branch.agency == "Văn phòng Ủy ban nhân dân tỉnh"


def test_star_counts_as_an_invalid_key_once_repeats_are_used_up() -> None:
    config = load_config("config/hotline.yaml")
    assert decide_menu(config, "*", 1, can_repeat=False) == Reprompt("invalid")
    last = config.menu.max_attempts
    decision = decide_menu(config, "*", last, can_repeat=False)
    assert isinstance(decision, SelectBranch) and decision.by_default
