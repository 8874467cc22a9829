"""Alembic environment: runs the revisions over the async engine the service uses.

The database URL comes from `calllog.db.alembic_config(url)` (programmatic use) or
``-x url=...`` on the command line.
"""

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from calllog.db import make_engine
from calllog.tables import metadata

config = context.config


def database_url() -> str:
    url = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    url = url or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError(
            "no database URL: call calllog.db.upgrade(url), or pass "
            "-x url=sqlite+aiosqlite:///var/hotline.db to the alembic command"
        )
    return str(url)


def configure(connection: Connection) -> None:
    if connection.dialect.name != "sqlite":
        _run_migrations(connection)
        return
    # SQLite alters a table by copying it, dropping the original and renaming the copy
    # (batch mode). With foreign keys on, dropping `calls` fails while `call_events`
    # refers to it, so they are off during the migrations (the pragma does nothing
    # inside a transaction, hence the commit before) and checked before the commit.
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()
    try:
        _run_migrations(connection, check_foreign_keys=True)
    finally:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()


def _run_migrations(connection: Connection, *, check_foreign_keys: bool = False) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite can only ALTER by copying the table
    )
    with context.begin_transaction():
        context.run_migrations()
        if check_foreign_keys:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                raise RuntimeError(f"the migration broke foreign keys: {broken[:10]}")


async def run_online(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(configure)
    finally:
        await engine.dispose()


def run_offline(url: str) -> None:
    context.configure(
        url=url,
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if config.config_file_name is not None:  # the command line; programmatic use keeps its logging
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_offline(database_url())
else:
    asyncio.run(run_online(database_url()))
