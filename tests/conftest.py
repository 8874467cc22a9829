"""Shared by every test folder."""

import pytest

# Helpers holding asserts shared by several test files: show values on failure.
pytest.register_assert_rewrite("tests.calllog_contract", "tests.users_contract", "tests.e2e.phones")

# `make test` runs two xdist workers (`-n 2 --dist load`). Each worker that draws an e2e
# test starts its own embedded Asterisk, service and phones (session fixtures, on free
# loopback ports), so the two workers' calls never share desks. (An `xdist_group` mark
# kept them on one worker until pytest 9, whose node ids xdist 3.8 can no longer tag.)
