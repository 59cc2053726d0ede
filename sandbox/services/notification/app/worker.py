"""notification-worker: `python3 -m app.worker` in the notification image.

Every WORKER_INTERVAL seconds (default 5) marks up to WORKER_BATCH (default 50)
unsent notifications (sent_at IS NULL, oldest first) as sent, until none is left.
It never migrates (DB_INIT is ignored: the notification service owns the schema);
it serves GET /health (200 iff logs_db is reachable and notifications exists) and
GET /items on HTTP_PORT (8000) so compose can health-check it.  Database errors
are logged at ERROR and retried at the next tick.

Stop it before dumping the monolith: it updates notifications.sent_at.
"""
import logging
import os
import threading
import time

import sqlalchemy as sa

from yemma_common import config, logsetup, web
from yemma_common.db import make_engine, short, wait_for_db
from yemma_common.service import Service, routes

MARK_SENT = sa.text("""
    UPDATE notifications SET sent_at = now()
    WHERE id IN (SELECT id FROM notifications WHERE sent_at IS NULL
                 ORDER BY id LIMIT :batch FOR UPDATE SKIP LOCKED)
""")


def main():
    logsetup.setup()
    settings = config.load("notification-worker")
    name = os.environ.get("WORKER_NAME", "notification-worker")
    log, dblog = logging.getLogger(name), logging.getLogger("database")
    interval = float(os.environ.get("WORKER_INTERVAL", "5"))
    batch = int(os.environ.get("WORKER_BATCH", "50"))
    log.info("starting: %s interval=%ss batch=%s (DB_INIT ignored: the worker never migrates)",
             settings.describe(), interval, batch)
    engine = make_engine(settings)
    spec = Service(name=name, tables=["notifications"], main_table="notifications")
    state = {"init": "not run (worker)", "init_error": None}
    server = threading.Thread(target=web.serve, name="http", daemon=True,
                              args=(settings.http_port, routes(spec, settings, engine, state)))
    server.start()
    wait_for_db(engine, settings)
    total = 0
    while True:
        try:
            with engine.begin() as conn:
                sent = conn.execute(MARK_SENT, {"batch": batch}).rowcount
            total += sent
            if sent:
                log.info("sent %d notification(s) (%d since start)", sent, total)
        except sa.exc.DBAPIError as exc:
            dblog.error("sending notifications: %s", short(exc))
        time.sleep(interval)


if __name__ == "__main__":
    main()
