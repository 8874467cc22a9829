"""`routing.menu.decide_menu`, exhaustively: every key of a phone (and silence) on
every attempt, with the shipped configuration and other attempt limits."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest

from routing.config import HotlineConfig, load_config
from routing.menu import GiveUp, Reprompt, SelectBranch, decide_menu, desks_to_ring

SHIPPED = load_config(Path(__file__).resolve().parents[2] / "config" / "hotline.yaml")

BRANCH_KEYS = [str(k) for k in range(1, 10)]
NOT_A_BRANCH = ["0", "#", "A", "B", "C", "D"]  # DTMF has 16 keys; A-D only on some phones
EVERY_KEY = ["0", *BRANCH_KEYS, "*", "#", "A", "B", "C", "D"]


def with_max_attempts(config: HotlineConfig, max_attempts: int) -> HotlineConfig:
    menu = config.menu.model_copy(update={"max_attempts": max_attempts})
    return config.model_copy(update={"menu": menu})


CONFIGS = [
    pytest.param(SHIPPED, id="shipped-3-attempts"),
    pytest.param(with_max_attempts(SHIPPED, 1), id="1-attempt"),
    pytest.param(with_max_attempts(SHIPPED, 5), id="5-attempts"),
]


def attempts(config: HotlineConfig) -> range:
    return range(1, config.menu.max_attempts + 1)


def test_shipped_menu_allows_three_attempts() -> None:
    assert SHIPPED.menu.max_attempts == 3


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("digit", BRANCH_KEYS)
def test_branch_key_selects_its_branch_on_every_attempt(config: HotlineConfig, digit: str) -> None:
    branch = config.branch(int(digit))
    assert branch is not None
    for attempt in attempts(config):
        assert decide_menu(config, digit, attempt) == SelectBranch(branch)


@pytest.mark.parametrize("config", CONFIGS)
def test_star_repeats_the_menu_on_every_attempt(config: HotlineConfig) -> None:
    for attempt in attempts(config):
        assert decide_menu(config, "*", attempt) == Reprompt("repeat")


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize(
    ("digit", "reason"),
    [*[(d, "invalid") for d in NOT_A_BRANCH], (None, "no_input")],
    ids=[*NOT_A_BRANCH, "silence"],
)
def test_wrong_key_or_silence_reprompts_then_gives_up_on_the_last_attempt(
    config: HotlineConfig, digit: str | None, reason: Literal["invalid", "no_input"]
) -> None:
    last = config.menu.max_attempts
    for attempt in range(1, last):
        assert decide_menu(config, digit, attempt) == Reprompt(reason)
    assert decide_menu(config, digit, last) == GiveUp(reason)


@pytest.mark.parametrize("config", CONFIGS)
def test_decision_table_for_every_key_and_attempt(config: HotlineConfig) -> None:
    last = config.menu.max_attempts
    for attempt in attempts(config):
        for digit in [*EVERY_KEY, None]:
            decision = decide_menu(config, digit, attempt)
            if digit in BRANCH_KEYS:
                assert isinstance(decision, SelectBranch)
                assert decision.branch.key == int(digit)
            elif digit == "*":
                assert decision == Reprompt("repeat")
            else:
                reason: Literal["invalid", "no_input"] = "no_input" if digit is None else "invalid"
                expected = GiveUp(reason) if attempt == last else Reprompt(reason)
                assert decision == expected, (digit, attempt)


def test_attempt_past_the_limit_still_gives_up() -> None:
    assert decide_menu(SHIPPED, "0", 4) == GiveUp("invalid")
    assert decide_menu(SHIPPED, None, 4) == GiveUp("no_input")


@pytest.mark.parametrize("digit", ["", "12", "44", " 4", "4 ", "**"])
def test_anything_but_one_key_is_invalid(digit: str) -> None:
    assert decide_menu(SHIPPED, digit, 1) == Reprompt("invalid")


def test_key_of_a_branch_not_configured_is_invalid() -> None:
    three = SHIPPED.model_copy(update={"branches": SHIPPED.branches[:3]})
    assert isinstance(decide_menu(three, "3", 1), SelectBranch)
    assert decide_menu(three, "4", 1) == Reprompt("invalid")
    assert decide_menu(three, "9", three.menu.max_attempts) == GiveUp("invalid")


def test_selected_branch_is_the_configured_one() -> None:
    decision = decide_menu(SHIPPED, "4", 1)
    assert isinstance(decision, SelectBranch)
    assert decision.branch is SHIPPED.branch(4)
    assert decision.branch.agency == "Văn phòng Ủy ban nhân dân tỉnh"


def test_desks_are_rung_in_the_configured_order_and_the_branch_is_not_shared() -> None:
    branch = SHIPPED.branches[0].model_copy(update={"desks": ["1101", "1102", "1103"]})
    desks = desks_to_ring(branch)
    assert desks == ["1101", "1102", "1103"]
    desks.append("9999")
    assert branch.desks == ["1101", "1102", "1103"]
