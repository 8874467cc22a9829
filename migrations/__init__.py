"""Alembic migrations of the call log schema (tables mapped in `calllog.tables`).

Applied by `calllog.db.upgrade(url)` from the installed package, whatever the cwd.
New revision (from the repository root; edit the generated file, keep ids sequential):

    .venv/bin/alembic -c migrations/alembic.ini revision --rev-id 0002 -m "add survey score"

Add ``--autogenerate -x url=sqlite+aiosqlite:///var/hotline.db`` to draft it from a
database at head; ``alembic -c migrations/alembic.ini -x url=... upgrade head`` applies it.
"""
