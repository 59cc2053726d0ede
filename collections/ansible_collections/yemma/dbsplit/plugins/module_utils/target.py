"""State of a target database: empty, restored by this tool (and from which plan and
backup), or holding something else that must not be touched.

The state is a marker in the database's comment, written before a restore starts
("restoring"), after it ends ("restored"), and at cutover, before any service starts
on it ("live"). A run killed mid-restore leaves "restoring": the next run rebuilds that
target from scratch instead of appending. Online mode restores in three steps: the schema the
rows go into ("schema"), the rows, copied from the monolith ("copying", then "copied"), then
the indexes and constraints built over them ("restoring", then "restored"); a run killed during
the copy or the build rebuilds that target from scratch too. A "live" target may hold writes the monolith
never saw, so it is never rebuilt or reset by this tool, until it is "returned": its
content is the monolith's (a run went back before any service wrote to it, or a rollback
proved every write back), and the next migration rebuilds it.
"""

import re

from ansible_collections.yemma.dbsplit.plugins.module_utils import pgconn



def marker_text(tool, plan_hash, backup_id, state):
    return f"{tool} plan={plan_hash} backup={backup_id} state={state}"


def parse_marker(tool, comment):
    """(plan, backup, state) of a marker written by ``tool``, or None."""
    match = re.match(rf"^{re.escape(tool)} plan=(\w+) backup=(\w+) state=(\w+)$", comment or "")
    return match.groups() if match else None

USER_OBJECTS_SQL = """
SELECT
  (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'
     AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')) AS relations,
  (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
   LEFT JOIN pg_class r ON r.oid = t.typrelid
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'
     AND t.typcategory <> 'A' AND (t.typrelid = 0 OR r.relkind = 'c')) AS types,
  (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%') AS functions,
  (SELECT count(*) FROM pg_extension WHERE extname <> 'plpgsql') AS extensions,
  (SELECT count(*) FROM pg_largeobject_metadata) AS large_objects,
  (SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()) AS marker
"""


def inspect(conn, tool):
    """Return {"state": empty|restoring|restored|foreign, "plan", "backup", "objects"}."""
    with conn.cursor() as cur:
        cur.execute(USER_OBJECTS_SQL)
        relations, types, functions, extensions, large_objects, marker = cur.fetchone()
    objects = relations + types + functions + extensions + large_objects
    parsed = parse_marker(tool, marker)
    if parsed:
        plan, backup, state = parsed
        return {"state": state, "plan": plan, "backup": backup, "objects": objects}
    return {"state": "empty" if objects == 0 else "foreign", "plan": None, "backup": None, "objects": objects}


def login_refused(user, database, error):
    """The problem of a running target that refuses the login, with the fix."""
    reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
    return (f"refuses the login of {user} to {database} ({reason}): a running database keeps the user and password "
            "it was created with, so put those in the .env (or the map entry's endpoint), or, if it holds nothing, "
            "remove its container and volume")


# Where a login is tried when its database may not exist: the databases initdb makes.
MAINTENANCE_DATABASES = ("postgres", "template1")


def maintenance_connection(psycopg, endpoint):
    """The login's session on a maintenance database of the target's server, or None when the
    server refuses it there too."""
    for maintenance in MAINTENANCE_DATABASES:
        try:
            return pgconn.connect(psycopg, endpoint, dbname=maintenance)
        except psycopg.OperationalError:
            continue
    return None


def server_without_database(psycopg, endpoint):
    """When the target's database refuses the login: {exists, may_create, server_version} as
    the server tells the same login on a maintenance database (whatever the language of its
    messages), or None when it refuses the login there too."""
    conn = maintenance_connection(psycopg, endpoint)
    if conn is None:
        return None
    with conn:
        exists, may_create = conn.execute(
            "SELECT EXISTS (SELECT FROM pg_database WHERE datname = %s), "
            "(SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user)", (endpoint["db"],)).fetchone()
        return {"exists": exists, "may_create": may_create, "server_version": conn.info.server_version}


def create_statement(database):
    return f"CREATE DATABASE {pgconn.quote_ident(database)}"


def absent_verdict(user, database, may_create):
    """(action, problem) for a target database its server does not hold: created by the
    provision phase (as the image's entrypoint creates its POSTGRES_DB) when the login may, or
    refused with the statement to run."""
    if may_create:
        return "create", None
    return "refuse", (f"does not exist on its server, and {user} may not create databases there: run there, as a "
                      f"superuser, {create_statement(database)} OWNER {pgconn.quote_ident(user)}; (or let the login "
                      f"create it: ALTER ROLE {pgconn.quote_ident(user)} CREATEDB), then run again")


def judge(psycopg, endpoint, plan_hash, backup_id):
    """{state, objects, plan, backup, action, problem} of one target: what it holds and what a
    transfer would do with it. A database its server does not hold is "absent" (created at
    provision when the login may); a target that refuses the login is unreachable; either
    refusal comes with the fix (the preflight lists it with the other problems)."""
    try:
        conn = pgconn.connect(psycopg, endpoint)
    except psycopg.OperationalError as exc:
        server = server_without_database(psycopg, endpoint)
        if server is not None and not server["exists"]:
            action, problem = absent_verdict(endpoint["login_user"], endpoint["db"], server["may_create"])
            return {"state": "absent", "objects": 0, "plan": None, "backup": None, "action": action,
                    "problem": problem, "server_version": server["server_version"]}
        return {"state": "unreachable", "objects": None, "plan": None, "backup": None, "action": "refuse",
                "problem": login_refused(endpoint["login_user"], endpoint["db"], exc), "server_version": None}
    with conn:
        info = inspect(conn, endpoint["tool_name"])
        server_version = conn.info.server_version
    action, problem = verdict(info, plan_hash, backup_id)
    return {"state": info["state"], "objects": info["objects"], "plan": info["plan"], "backup": info["backup"],
            "action": action, "problem": problem, "server_version": server_version}


def create(psycopg, endpoint, check_mode=False):
    """Create the target's database on its server, owned by the login (CREATE DATABASE cannot
    run in a transaction: the maintenance session is in autocommit)."""
    if not check_mode:
        with maintenance_connection(psycopg, endpoint) as conn:
            conn.execute(create_statement(endpoint["db"]))


# What a restore keeps of a target restored from the same plan and backup, by the part it
# restores: the whole target (offline), or the schema the online copy's rows go into (online:
# the copy, then the build after the rows, take it from there).
KEPT = {"whole": ("restored",), "before_rows": ("schema", "copied", "restored")}


def verdict(info, plan_hash, backup_id, part="whole"):
    """What a transfer must do with a target: restore, rebuild, keep, or refuse (with why).
    ``part``: what is restored: "whole", "before_rows" (online: the schema the copy fills) or
    "after_rows" (online: the indexes, constraints and triggers, once the rows are copied)."""
    state = info["state"]
    if part == "after_rows":
        return _after_rows_verdict(info, plan_hash, backup_id)
    if state == "empty":
        return "restore", None
    if state == "foreign":
        return "refuse", (f"holds {info['objects']} objects that this tool did not restore: empty it "
                          "or point the map at an empty database")
    if state == "returned":
        return "rebuild", None  # its content is the monolith's: nothing in it is lost
    if state == "live":
        if info["plan"] == plan_hash and info["backup"] == backup_id:
            return "keep", None  # a run stopped during cutover, run again
        return "refuse", (f"has served the services since a cutover (backup {info['backup']}): it may hold "
                          "writes the monolith never saw, so this tool never rebuilds it. Keep it; or, to "
                          "migrate again after a rollback, save what you need and remove its container and "
                          "volume (docker compose rm -sv <service>; docker volume rm <volume>)")
    if info["plan"] != plan_hash:
        return "refuse", (f"holds data restored by this tool from another plan ({info['plan']}, "
                          f"current {plan_hash}): reset it with rollback.yml, or restore the old map")
    if state in KEPT[part] and info["backup"] == backup_id:
        return "keep", None
    # Half restored or half copied by a killed run, or restored from an older backup: start
    # again from empty.
    return "rebuild", None


def _after_rows_verdict(info, plan_hash, backup_id):
    """Online mode's build over the copied rows: only on a target whose rows this tool copied
    from this plan and backup; never a rebuild (that is the schema restore's, before the copy)."""
    same = info["plan"] == plan_hash and info["backup"] == backup_id
    if same and info["state"] == "copied":
        return "restore", None
    if same and info["state"] == "restored":
        return "keep", None
    return "refuse", (f"is {info['state']} (plan {info['plan']}, backup {info['backup']}), not holding the rows this "
                      "plan's online copy brings: run migrate.yml again, which restores its schema and copies them first")


def not_markable(info, plan_hash, backup_id):
    """Why a target cannot be marked live (services about to write to it): it must hold what
    this tool restored from this plan and backup. None when it can."""
    if info["plan"] != plan_hash or info["backup"] != backup_id or info["state"] not in ("restored", "live"):
        return (f"is {info['state']} (plan {info['plan']}, backup {info['backup']}), not restored from this plan and "
                "backup: run the transfer and verify phases first")
    return None


# The states a return marks "returned": what this tool restored or marked live.
RETURNABLE = ("restoring", "schema", "copying", "copied", "restored", "live")


def mark_returned(conn, tool, check_mode=False):
    """Mark a target of this tool "returned" (its content is the monolith's); return its state
    before. A target that is not this tool's, or returned already, is left as it is."""
    info = inspect(conn, tool)
    if info["state"] in RETURNABLE and not check_mode:
        set_marker(conn, tool, info["plan"], info["backup"], "returned")
    return info["state"]


def restate(conn, tool, state):
    """The marker of a target of this tool set to ``state``, its plan and backup kept (the online
    copy's "copying" and "copied")."""
    info = inspect(conn, tool)
    set_marker(conn, tool, info["plan"], info["backup"], state)


def set_marker(conn, tool, plan_hash, backup_id, state):
    with conn.cursor() as cur:
        cur.execute("SELECT current_database()")
        database = cur.fetchone()[0].replace('"', '""')
        comment = marker_text(tool, plan_hash, backup_id, state).replace("'", "''")
        cur.execute(f"COMMENT ON DATABASE \"{database}\" IS '{comment}'")


def clear_marker(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT current_database()")
        database = cur.fetchone()[0].replace('"', '""')
        cur.execute(f"COMMENT ON DATABASE \"{database}\" IS NULL")


RESET_SQL = """
DO $$
DECLARE s record;
BEGIN
  FOR s IN SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' LOOP
    EXECUTE format('DROP EXTENSION %I CASCADE', s.extname);
  END LOOP;
  FOR s IN SELECT nspname FROM pg_namespace
           WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_%' LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', s.nspname);
  END LOOP;
  -- Large objects belong to no schema; left in place, the next restore's lo_create fails.
  PERFORM lo_unlink(oid) FROM pg_largeobject_metadata;
  -- The public schema as initdb makes it in PostgreSQL 15.
  CREATE SCHEMA public AUTHORIZATION pg_database_owner;
  GRANT USAGE ON SCHEMA public TO PUBLIC;
END $$
"""


def reset(conn):
    """Drop everything a previous restore left, back to an empty database.

    Sessions of a killed run may still hold locks: they are ended first (the services
    that use this database are stopped during the migration).
    """
    with conn.cursor() as cur:
        # An online copy's subscription would go on writing into what is dropped; dropping it
        # also drops its slot on the monolith (outside a transaction block, hence not in RESET_SQL).
        cur.execute("SELECT subname FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database())")
        for (name,) in cur.fetchall():
            cur.execute("DROP SUBSCRIPTION " + '"' + name.replace('"', '""') + '"')
        cur.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        cur.execute(RESET_SQL)
