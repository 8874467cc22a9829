"""Alembic revisions, one file each, named <rev-id>_<slug>.py (package so installs ship them)."""
