"""Errors raised by the call log.

    CallLogError                 base of everything below
    ├── UnknownCallError         an event for a call whose row was never saved
    └── SpoolFileRefusedError    a spool file is a symbolic link (or not a regular file);
                                 also an `OSError`, as other failures of the spool's files

Invalid values (a naive datetime, an over-long call id or event kind) raise the
built-in `ValueError`. Database driver errors are not wrapped: the caller (the
spool that keeps calls while the database is unreachable) decides what is retryable.
"""


class CallLogError(Exception):
    """Base class of the call log's own errors."""


class UnknownCallError(CallLogError, LookupError):
    """`append_event` for a call id that has no saved `CallRecord` yet."""

    def __init__(self, call_id: str) -> None:
        super().__init__(
            f"no call {call_id!r} in the call log: save() the CallRecord before appending events"
        )
        self.call_id = call_id


class SpoolFileRefusedError(CallLogError, OSError):
    """A file of the spool directory is a symbolic link or not a regular file: refused,
    never followed (the journal holds citizens' data)."""
