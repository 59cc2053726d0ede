"""Engine creation and the table check behind GET /health."""
import logging
import time

import sqlalchemy as sa
from sqlalchemy.engine import URL

log = logging.getLogger("database")


def make_engine(settings):
    url = URL.create("postgresql+psycopg2", username=settings.db_user,
                     password=settings.db_password or None, host=settings.db_host,
                     port=settings.db_port, database=settings.db_name)
    return sa.create_engine(
        url, future=True, pool_pre_ping=True, pool_size=5, max_overflow=5,
        connect_args={"connect_timeout": 5, "application_name": settings.service_name})


def short(exc):
    """First line of a DBAPI error, without SQLAlchemy's long suffix."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


def wait_for_db(engine, settings, retry_seconds=5):
    """Block until a connection works; every failed attempt is an ERROR line."""
    while True:
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return
        except sa.exc.DBAPIError as exc:
            log.error("cannot connect to %s@%s:%s/%s: %s (retrying in %ss)",
                      settings.db_user, settings.db_host, settings.db_port,
                      settings.db_name, short(exc), retry_seconds)
            time.sleep(retry_seconds)


def check_tables(engine, tables):
    """Return None if the DB is reachable and every table can be selected, else why not.

    AUTOCOMMIT: each probe is its own statement, so one missing table does not
    abort the probes of the others and every missing table gets reported.
    """
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            missing = []
            for name in tables:
                try:
                    conn.execute(sa.text(f'SELECT 1 FROM "{name}" LIMIT 0'))
                except sa.exc.ProgrammingError as exc:
                    missing.append(f"{name} ({short(exc)})")
            if missing:
                return "missing or unreadable tables: " + "; ".join(missing)
    except sa.exc.DBAPIError as exc:
        return f"database unreachable: {short(exc)}"
    return None
