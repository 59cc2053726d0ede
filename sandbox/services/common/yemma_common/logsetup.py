"""Logging to stdout with level names: `2025-01-01 12:00:00,000 ERROR database: ...`.

The logger name is the subsystem ("database", "alembic", "http", the service name),
so start-up problems read `ERROR database: ...` / `ERROR alembic: ...` in
`docker compose logs`.
"""
import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup(level=logging.INFO):
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    # SQLAlchemy is quiet unless asked; keep it so.
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
