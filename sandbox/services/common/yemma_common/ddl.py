"""Idempotent DDL for the create_all services.

metadata.create_all(checkfirst=True) knows tables, indexes, sequences and ENUM
types, not functions, composite types or domains.  These statements create the
missing ones before the tables (guarded by to_regtype/to_regprocedure, because
the metadata-level before_create event fires on every create_all, even when all
tables exist, e.g. on the monolith).  No '%' in here: SQLAlchemy's DDL() uses
%-formatting.
"""
import sqlalchemy as sa

SET_UPDATED_AT = """
DO $do$ BEGIN
    IF to_regprocedure('set_updated_at()') IS NULL THEN
        CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            NEW.updated_at := now();
            RETURN NEW;
        END $fn$;
    END IF;
END $do$
"""


def create_if_missing(kind, name, create_sql):
    """DDL running create_sql unless the type/function `name` already exists."""
    probe = {"type": "to_regtype", "function": "to_regprocedure"}[kind]
    return sa.DDL(f"DO $do$ BEGIN IF {probe}('{name}') IS NULL THEN "
                  f"EXECUTE $sql${create_sql}$sql$; END IF; END $do$")


def updated_at_trigger(table):
    """BEFORE UPDATE trigger of schema.sql (run once, when create_all creates `table`)."""
    sa.event.listen(table, "after_create", sa.DDL(
        f"CREATE TRIGGER trg_{table.name}_updated_at BEFORE UPDATE ON {table.name} "
        "FOR EACH ROW EXECUTE FUNCTION set_updated_at()"))
