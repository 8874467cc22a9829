"""calllog.db without a database: what is refused before anything is opened."""

from __future__ import annotations

import pytest

from calllog.db import alembic_config, downgrade, upgrade


async def test_blocking_upgrade_inside_the_event_loop_points_to_upgrade_async() -> None:
    with pytest.raises(RuntimeError, match="upgrade_async"):
        upgrade("sqlite+aiosqlite:///never-created.db")
    with pytest.raises(RuntimeError, match="downgrade_async"):
        downgrade("sqlite+aiosqlite:///never-created.db", "base")


def test_alembic_config_finds_the_migrations_package_and_keeps_the_url_out_of_the_ini() -> None:
    url = "postgresql+asyncpg://hotline:p%40ss%25word@127.0.0.1:5432/hotline"
    config = alembic_config(url)
    script_location = config.get_main_option("script_location")
    assert script_location is not None and script_location.endswith("migrations")
    assert config.attributes["url"] == url
    assert config.get_main_option("sqlalchemy.url") is None
