"""The call log: every call, one row written as the call progresses, plus its timeline.

model.py    CallRecord, CallEvent, Outcome (pure dataclasses)
errors.py   the exception tree
tables.py   SQLAlchemy mapping of `calls` and `call_events`
store.py    the `CallLog` protocol and `CallLogStore` (SQLite / PostgreSQL)
memory.py   `InMemoryCallLog`, the fake for unit tests
db.py       make_engine, make_sessionmaker, upgrade (Alembic, `migrations/`)
"""

from calllog.errors import CallLogError, UnknownCallError
from calllog.memory import InMemoryCallLog
from calllog.model import Callback, CallEvent, CallRecord, Outcome
from calllog.store import CallLog, CallLogStore

__all__ = [
    "CallEvent",
    "CallLog",
    "CallLogError",
    "CallLogStore",
    "CallRecord",
    "Callback",
    "InMemoryCallLog",
    "Outcome",
    "UnknownCallError",
]
