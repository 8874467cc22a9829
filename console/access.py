"""Who may see or do what in the console: the one place for it.

| action            | admin | operator | agency        | viewer |
|-------------------|-------|----------|---------------|--------|
| see the wallboard | yes   | yes      | -             | yes    |
| see calls         | yes   | yes      | own agency's  | -      |
| see call-backs    | yes   | yes      | -             | -      |
| handle call-backs | yes   | yes      | -             | -      |
| see cases         | yes   | yes      | own agency's  | -      |
| change cases      | yes   | yes      | own agency's  | -      |
| see reports       | yes   | yes      | -             | yes    |
| see configuration | yes   | yes      | -             | -      |
| apply a YAML      | yes   | -        | -             | -      |
| manage users      | yes   | -        | -             | -      |
| Zalo surveys, ZNS | yes   | yes      | -             | -      |
| announcements     | yes   | yes      | -             | -      |
| review recordings | yes   | yes      | -             | -      |
| desks' presence   | yes   | yes      | -             | -      |
| own desk (/my-desk) | a user bound to a desk (admin, operator, agency): its call |
|                   | in progress, that caller's calls and open cases (agency: own  |
|                   | agency's), and its own presence                              |

Review recordings (both sides of a conversation, for quality review) are the operating
team's: they hold the citizen's voice and judge the desk's staff, so an agency user who
may see the call still does not hear them (the voice message, the citizen's own words to
the hotline, stays theirs to hear).

A route asks `require(user, Action.X)`, and for a call or case `require_agency(user,
its_agency)`; both raise `Forbidden`, which the app answers 403 (and audits).
"""

from __future__ import annotations

from enum import StrEnum

from calllog.users import Role, User


class Action(StrEnum):
    VIEW_WALLBOARD = "view_wallboard"
    VIEW_CALLS = "view_calls"
    VIEW_CALLBACKS = "view_callbacks"
    HANDLE_CALLBACKS = "handle_callbacks"
    VIEW_CASES = "view_cases"
    CHANGE_CASES = "change_cases"
    VIEW_REPORTS = "view_reports"
    VIEW_CONFIG = "view_config"
    APPLY_CONFIG = "apply_config"
    MANAGE_USERS = "manage_users"
    RUN_CAMPAIGNS = "run_campaigns"
    ANNOUNCE = "announce"
    PLAY_REVIEW_RECORDINGS = "play_review_recordings"
    MANAGE_DESKS = "manage_desks"


RULES: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.OPERATOR: frozenset(Action) - {Action.APPLY_CONFIG, Action.MANAGE_USERS},
    Role.AGENCY: frozenset({Action.VIEW_CALLS, Action.VIEW_CASES, Action.CHANGE_CASES}),
    Role.VIEWER: frozenset({Action.VIEW_WALLBOARD, Action.VIEW_REPORTS}),
}


class Forbidden(Exception):
    """The user may not do this: answered 403."""

    def __init__(self, user: User, what: str) -> None:
        super().__init__(f"{user.username} ({user.role.value}) may not {what}")
        self.user = user
        self.what = what


def may(user: User, action: Action) -> bool:
    return user.active and action in RULES[user.role]


def require(user: User, action: Action) -> None:
    if not may(user, action):
        raise Forbidden(user, action.value)


def agency_scope(user: User) -> str | None:
    """The one agency whose calls and cases the user sees; None: every agency's."""
    return user.agency if user.role is Role.AGENCY else None


def may_see_agency(user: User, agency: str | None) -> bool:
    """An agency user sees only what belongs to its agency (nothing unassigned)."""
    scope = agency_scope(user)
    return scope is None or (agency is not None and agency == scope)


def require_desk(user: User) -> str:
    """The desk the user works at (the "my desk" page and its actions): Forbidden to a
    user with no desk, or who may not see calls (a viewer bound to a desk sees none)."""
    if user.desk is None or not may(user, Action.VIEW_CALLS):
        raise Forbidden(user, "use a desk")
    return user.desk


def require_agency(user: User, agency: str | None) -> None:
    if not may_see_agency(user, agency):
        raise Forbidden(user, f"see what belongs to {agency or 'no agency'}")
