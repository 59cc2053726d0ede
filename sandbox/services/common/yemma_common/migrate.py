"""Start-up database initialisation: DB_INIT=alembic | create_all | none.

Imported only when needed: `alembic` is imported inside run_alembic() so that a
service with DB_INIT other than alembic never imports it (candidate's image
shadows the alembic package).
"""
import logging

from .db import short

log = logging.getLogger("alembic")
dblog = logging.getLogger("database")


def run_alembic(settings):
    """`alembic -c $ALEMBIC_CONFIG upgrade head`, in-process. Returns an error text or None."""
    try:
        from alembic import command
        from alembic.config import Config
    except Exception as exc:  # e.g. ModuleNotFoundError: alembic.config (shadowed package)
        log.error("cannot import alembic: %s", exc)
        return f"cannot import alembic: {exc}"
    try:
        cfg = Config(settings.alembic_config)
        log.info("upgrade head (config %s, script_location %s)",
                 settings.alembic_config, cfg.get_main_option("script_location"))
        command.upgrade(cfg, "head")
    except Exception as exc:
        # Typical: tables restored from the monolith but not stamped ->
        # 'relation "users" already exists' (the runbook's reason for `alembic stamp head`).
        log.error("upgrade head failed: %s", short(exc))
        return f"alembic upgrade head failed: {short(exc)}"
    log.info("upgrade head done")
    return None


def run_create_all(engine, metadata):
    """metadata.create_all(checkfirst=True): creates what is missing, leaves the rest."""
    try:
        metadata.create_all(engine, checkfirst=True)
    except Exception as exc:
        dblog.error("create_all failed: %s", short(exc))
        return f"create_all failed: {short(exc)}"
    dblog.info("create_all done (tables: %s)", ", ".join(metadata.tables))
    return None
