"""The deadlines the YAML sets, as functions of the instant something came in: a case's
(`complaints.resolve_within_working_days`) and an overdue call back's
(`callbacks.overdue_after_working_hours`), both on the hotline's own `hours`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from routing.config import HotlineConfig
from routing.workdays import add_working_days, add_working_hours


def case_deadline(config: HotlineConfig) -> Callable[[datetime], datetime]:
    days = config.complaints.resolve_within_working_days
    return lambda opened_at: add_working_days(config.hours, opened_at, days)


def callback_overdue_at(config: HotlineConfig) -> Callable[[datetime], datetime]:
    hours = config.callbacks.overdue_after_working_hours
    return lambda called_at: add_working_hours(config.hours, called_at, hours)
