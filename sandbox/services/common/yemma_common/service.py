"""The common life cycle of a yemma service.

Start-up: log the settings, start the HTTP server at once, and in a background
thread wait for the database (an `ERROR database:` line per failed attempt), then
run DB_INIT once (alembic upgrade head | create_all | nothing) and check the owned
tables.  Any database or Alembic error is logged at ERROR and the process KEEPS
SERVING: GET /health then answers 503 with the reason (missing tables, database
unreachable) instead of the container crash-looping.  The health check is live,
so fixing the database (e.g. `alembic upgrade head` by hand) turns it healthy
without a restart.

Routes: GET /health, GET /items, POST /items, PATCH /items/<id> (set columns of that row of
the main table from the JSON body), DELETE /items/<id> (delete it; its children in the
service's own tables go with it by their foreign keys), GET /info.
"""
import dataclasses
import logging
import threading

import sqlalchemy as sa

from . import config, logsetup, web
from .db import check_tables, make_engine, short, wait_for_db

dblog = logging.getLogger("database")


class Service:
    def __init__(self, name, tables, main_table, default_init="none", metadata=None,
                 post_item=None, latest_sql=None):
        self.name = name
        self.tables = list(tables)          # every table the service owns
        self.main_table = main_table
        self.default_init = default_init    # the image's DB_INIT (env overrides)
        self.metadata = metadata            # for DB_INIT=create_all
        self.post_item = post_item          # fn(conn, body) -> dict of new ids
        # SQL giving "the latest row" of the main table (max(id) by default).
        self.latest_sql = latest_sql or f"SELECT max(id) FROM {main_table}"


def initialise(spec, settings, engine, state):
    """Wait for the DB, run DB_INIT, report the table check. Runs once, in a thread."""
    wait_for_db(engine, settings)
    mode = settings.db_init
    error = None
    if mode == "alembic":
        from .migrate import run_alembic  # lazy: see migrate.py
        error = run_alembic(settings)
    elif mode == "create_all":
        from .migrate import run_create_all
        if spec.metadata is None:
            error = "DB_INIT=create_all but the service has no metadata"
            dblog.error(error)
        else:
            error = run_create_all(engine, spec.metadata)
    state.update(init="failed" if error else "done", init_error=error)
    reason = check_tables(engine, spec.tables)
    if reason:
        dblog.error("after DB_INIT=%s: %s", mode, reason)
    else:
        logging.getLogger(settings.service_name).info(
            "ready: all %d tables present (%s)", len(spec.tables), ", ".join(spec.tables))


def routes(spec, settings, engine, state):
    def health(req):
        reason = check_tables(engine, spec.tables)
        if reason:
            dblog.error("health check failed: %s", reason)
            return 503, {"status": "error", "reason": reason}
        return 200, {"status": "ok"}

    def get_items(req):
        try:
            with engine.connect() as conn:
                counts = {t: conn.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar_one()
                          for t in spec.tables}
                latest = conn.execute(sa.text(spec.latest_sql)).scalar()
        except sa.exc.DBAPIError as exc:
            dblog.error("GET /items: %s", short(exc))
            return 503, {"error": short(exc)}
        return 200, {"service": settings.service_name, "counts": counts,
                     "main_table": spec.main_table, "latest_id": latest}

    def post_items(req):
        if spec.post_item is None:
            return 405, {"error": "this service does not create items"}
        try:
            body = req.json_body()
        except ValueError as exc:
            return 400, {"error": f"invalid JSON body: {exc}"}
        try:
            with engine.begin() as conn:
                created = spec.post_item(conn, body)
        except sa.exc.IntegrityError as exc:
            dblog.error("POST /items: %s", short(exc))
            return 409, {"error": short(exc)}
        except sa.exc.DBAPIError as exc:
            dblog.error("POST /items: %s", short(exc))
            return 500, {"error": short(exc)}
        logging.getLogger(settings.service_name).info("created %s", created)
        return 201, created

    def change_item(req, statement, params):
        try:
            with engine.begin() as conn:
                row = conn.execute(sa.text(statement), dict(params, id=req.item_id)).first()
        except sa.exc.IntegrityError as exc:
            dblog.error("%s /items/%s: %s", req.command, req.item_id, short(exc))
            return 409, {"error": short(exc)}
        except sa.exc.DBAPIError as exc:
            dblog.error("%s /items/%s: %s", req.command, req.item_id, short(exc))
            return 500, {"error": short(exc)}
        if row is None:
            return 404, {"error": f"no {spec.main_table} row with id {req.item_id}"}
        logging.getLogger(settings.service_name).info("%s %s %s", req.command.lower(), spec.main_table, req.item_id)
        return 200, {"id": req.item_id}

    def patch_item(req):
        try:
            body = req.json_body()
        except ValueError as exc:
            return 400, {"error": f"invalid JSON body: {exc}"}
        if not body:
            return 400, {"error": "the body names the columns to set, e.g. {\"full_name\": \"A. B.\"}"}
        columns = ", ".join(f'"{name}" = :v{i}' for i, name in enumerate(body))
        return change_item(req, f'UPDATE "{spec.main_table}" SET {columns} WHERE id = :id RETURNING id',
                           {f"v{i}": value for i, value in enumerate(body.values())})

    def delete_item(req):
        return change_item(req, f'DELETE FROM "{spec.main_table}" WHERE id = :id RETURNING id', {})

    def info(req):
        return 200, {"service": settings.service_name, "db_name": settings.db_name,
                     "db_host": settings.db_host, "db_init": settings.db_init,
                     "init": state["init"], "init_error": state["init_error"],
                     "tables": spec.tables}

    return {("GET", "/health"): health, ("GET", "/items"): get_items,
            ("POST", "/items"): post_items, ("PATCH", "/items/<id>"): patch_item,
            ("DELETE", "/items/<id>"): delete_item, ("GET", "/info"): info}


def run(spec):
    """Entry point of `python3 -m app.main`."""
    logsetup.setup()
    settings = config.load(spec.name, spec.default_init)
    log = logging.getLogger(settings.service_name)
    if settings.db_init not in config.DB_INIT_MODES:
        log.error("config: unknown DB_INIT=%r (expected one of %s); acting as none",
                  settings.db_init, "|".join(config.DB_INIT_MODES))
        settings = dataclasses.replace(settings, db_init="none")
    log.info("starting: %s", settings.describe())
    engine = make_engine(settings)
    state = {"init": "running", "init_error": None}
    threading.Thread(target=initialise, args=(spec, settings, engine, state),
                     name="db-init", daemon=True).start()
    web.serve(settings.http_port, routes(spec, settings, engine, state))
