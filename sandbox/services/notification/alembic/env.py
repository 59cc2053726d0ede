"""Alembic environment of the notification service.

Standalone on purpose: it imports nothing from the service code, so it runs the
same under the `alembic` CLI from any directory and in-process from the service
(DB_INIT=alembic).  Migrations are explicit SQL (no autogenerate), so there is
no target_metadata.
"""
import logging
import os
import sys

from alembic import context
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import URL

# This service's own version table: several services may share one database.
VERSION_TABLE = "alembic_version_notification"

# CLI run: nobody configured logging yet (in-process, the service did).
# stderr, like alembic's stock ini: `alembic current` prints only the revision on stdout.
if not logging.getLogger().handlers:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(levelname)-5.5s [%(name)s] %(message)s")


def database_url():
    return URL.create(
        "postgresql+psycopg2",
        username=os.environ.get("DB_USER", "postgres"),
        password=os.environ.get("DB_PASSWORD") or None,
        host=os.environ.get("DB_HOST", "localhost"),
        port=int(os.environ.get("DB_PORT", "5432")),
        database=os.environ.get("DB_NAME", "postgres"),
    )


if context.is_offline_mode():  # alembic upgrade head --sql
    context.configure(url=database_url(), version_table=VERSION_TABLE, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(database_url(), poolclass=pool.NullPool, future=True,
                           connect_args={"connect_timeout": 5, "application_name": "alembic-notification"})
    with engine.connect() as connection:
        # One transaction for the whole upgrade (PostgreSQL has transactional DDL):
        # a failing revision leaves the database exactly as it was.
        context.configure(connection=connection, version_table=VERSION_TABLE)
        with context.begin_transaction():
            context.run_migrations()
