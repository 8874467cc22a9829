"""Pure menu decisions: what a caller's key press (or silence) leads to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from routing.config import Branch, HotlineConfig

REPEAT_KEY = "*"


@dataclass(frozen=True)
class SelectBranch:
    branch: Branch
    # True when the caller chose nothing valid and is put through to menu.default_branch.
    by_default: bool = False


@dataclass(frozen=True)
class Reprompt:
    reason: Literal["invalid", "no_input", "repeat"]


@dataclass(frozen=True)
class GiveUp:
    """The caller used up every attempt without choosing a branch."""

    reason: Literal["invalid", "no_input"]


MenuDecision = SelectBranch | Reprompt | GiveUp


def decide_menu(
    config: HotlineConfig, digit: str | None, attempt: int, *, can_repeat: bool = True
) -> MenuDecision:
    """Decide after `attempt` (1-based) ended with `digit` (None: the caller pressed nothing).

    `*` replays the menu while `can_repeat`; after that it counts as an invalid key, so a
    stuck key or talk-off cannot keep a call in the menu for ever."""
    if digit is not None and digit.isdigit():
        branch = config.branch(int(digit))
        if branch is not None:
            return SelectBranch(branch)
    if digit == REPEAT_KEY and can_repeat:
        return Reprompt("repeat")
    reason: Literal["invalid", "no_input"] = "no_input" if digit is None else "invalid"
    if attempt < config.menu.max_attempts:
        return Reprompt(reason)
    default = config.branch(config.menu.default_branch) if config.menu.default_branch else None
    if default is not None:
        return SelectBranch(default, by_default=True)
    return GiveUp(reason)
