"""Shared by every test folder."""

import pytest

# Helpers holding asserts shared by several test files: show values on failure.
pytest.register_assert_rewrite("tests.calllog_contract", "tests.users_contract", "tests.e2e.phones")
