"""Shared by every test folder."""

import pytest

# Helpers holding asserts shared by several test files: show values on failure.
pytest.register_assert_rewrite("tests.calllog_contract", "tests.users_contract", "tests.e2e.phones")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`make test` runs two workers (`-n 2 --dist loadgroup`): the calls through the
    session's real PBX and phones stay on one worker, one after another, as they share
    its desks; every other test goes to whichever worker is free."""
    for item in items:
        if item.get_closest_marker("e2e") is not None:
            item.add_marker(pytest.mark.xdist_group("pbx"))
