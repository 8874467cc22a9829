"""The call log: every call, one row written as the call progresses, plus its timeline.

model.py    CallRecord, CallEvent, Outcome, Case (pure dataclasses)
errors.py   the exception tree
cases.py    complaint cases: their workflow check and errors
tables.py   SQLAlchemy mapping of `calls`, `call_events`, `cases`...
store.py    the `CallLog` protocol and `CallLogStore` (SQLite / PostgreSQL)
spool.py    `SpooledCallLog`: writes journaled locally, applied to the store in the
            background, so calls never wait for (or on a down) database
memory.py   `InMemoryCallLog`, the fake for unit tests
users.py    the console's users (roles, argon2 hashes made by the console) and audit log
db.py       make_engine, make_sessionmaker, upgrade (Alembic, `migrations/`)
"""

from calllog.cases import CaseTransitionError, UnknownCaseError
from calllog.errors import CallLogError, UnknownCallError
from calllog.memory import InMemoryCallLog
from calllog.model import (
    Callback,
    CallEvent,
    CallRecord,
    Case,
    CaseChange,
    CaseStatus,
    Outcome,
    Write,
)
from calllog.spool import SpooledCallLog
from calllog.store import BatchCallLog, CallLog, CallLogStore

__all__ = [
    "BatchCallLog",
    "CallEvent",
    "CallLog",
    "CallLogError",
    "CallLogStore",
    "CallRecord",
    "Callback",
    "Case",
    "CaseChange",
    "CaseStatus",
    "CaseTransitionError",
    "InMemoryCallLog",
    "Outcome",
    "SpooledCallLog",
    "UnknownCallError",
    "UnknownCaseError",
    "Write",
]
