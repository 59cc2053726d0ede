"""The source's write freeze, and the proof that it held.

The freeze is the database-level default ``default_transaction_read_only = on`` plus the end
of every session opened before it: the only change the migration makes to the source, and
reversible. It keeps out what connects normally (a forgotten worker, a cron job). It cannot
keep out a session that turns it off for itself (``SET default_transaction_read_only = off``,
``BEGIN READ WRITE``): the services' role is the server's superuser, which no privilege binds,
and refusing its connections would refuse the migration's own reads. So the run proves,
before any service starts on the targets, that no row of the source changed since the backup:
``write_signature`` read after the backup's freeze and again at the cutover must be equal.

A role whose own setting (``ALTER ROLE ... SET default_transaction_read_only = off``, for every
database or this one) overrides the database's default would write through the freeze without
even trying: such a role is refused before the migration starts.
"""

from ansible_collections.yemma.dbsplit.plugins.module_utils.pgconn import quote_ident

FROZEN_SQL = """
SELECT coalesce('default_transaction_read_only=on' = ANY(s.setconfig), false)
FROM pg_database d
LEFT JOIN pg_db_role_setting s ON s.setdatabase = d.oid AND s.setrole = 0
WHERE d.datname = current_database()
"""

# Role-level settings (all databases, or this one) that turn the database's default off.
OVERRIDES_SQL = """
SELECT r.rolname, s.setdatabase <> 0
FROM pg_db_role_setting s
JOIN pg_roles r ON r.oid = s.setrole
WHERE r.rolcanlogin
  AND s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
  AND EXISTS (SELECT 1 FROM unnest(s.setconfig) c
              WHERE lower(c) IN ('default_transaction_read_only=off', 'default_transaction_read_only=false',
                                 'default_transaction_read_only=0', 'default_transaction_read_only=no'))
ORDER BY 1, 2
"""

# Client sessions only: the WAL senders of online mode's copy (the targets catch up after the
# freeze through them) and the reverse stream's apply workers are not sessions that write.
TERMINATE_SQL = """
SELECT count(pg_terminate_backend(pid{wait})) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
"""

# What a write to a table changes: its insert/update/delete counters (TRUNCATE gives it a new
# file). Leftover stats of a session are flushed when it ends, so sessions are ended first.
SIGNATURE_SQL = r"""
SELECT format('%I.%I', s.schemaname, s.relname), s.n_tup_ins, s.n_tup_upd, s.n_tup_del, c.relfilenode
FROM pg_stat_user_tables s
JOIN pg_class c ON c.oid = s.relid
WHERE s.schemaname NOT LIKE 'pg\_temp\_%'
ORDER BY 1
"""


def override_problems(rows, database):
    """The problem of each login role whose own setting overrides the freeze."""
    return [f"role {role} turns default_transaction_read_only off for itself "
            f"({'in ' + database if in_database else 'in every database'}), so its sessions would write through the "
            f"freeze: ALTER ROLE {quote_ident(role)} {'IN DATABASE ' + quote_ident(database) + ' ' if in_database else ''}"
            "RESET default_transaction_read_only (set it again after the migration if it is needed)"
            for role, in_database in rows]


def overrides(conn):
    return override_problems(conn.execute(OVERRIDES_SQL).fetchall(), conn.info.dbname)


def is_frozen(conn):
    return conn.execute(FROZEN_SQL).fetchone()[0]


def end_other_sessions(conn):
    """End every other session of this database, waiting for each (so its statistics are flushed)."""
    wait = ", 5000" if conn.info.server_version >= 140000 else ""
    return conn.execute(TERMINATE_SQL.format(wait=wait)).fetchone()[0]


def freeze(conn):
    """Freeze this database: read-only by default for every new session, and every client
    session opened before it ended. Returns how many sessions were ended (0 when it was
    frozen already)."""
    if is_frozen(conn):
        return 0
    conn.execute(f"ALTER DATABASE {quote_ident(conn.info.dbname)} SET default_transaction_read_only = on")
    # Sessions opened before the setting keep writing: end them.
    return end_other_sessions(conn)


def write_signature(conn):
    """{table: [inserted, updated, deleted, file]} of every table of the database, after the
    other sessions ended. Needs track_counts (on by default)."""
    if conn.execute("SHOW track_counts").fetchone()[0] != "on":
        raise FreezeError("track_counts is off on the source server, so no write to it could be detected: "
                          "set track_counts = on (postgresql.conf) and reload")
    end_other_sessions(conn)
    conn.execute("SELECT pg_stat_clear_snapshot()")
    return {row[0]: list(row[1:]) for row in conn.execute(SIGNATURE_SQL).fetchall()}


def signature_changes(before, after):
    """What changed between two write signatures, one sentence a table."""
    changes = []
    for table in sorted(set(before) | set(after)):
        old, new = before.get(table), after.get(table)
        if old == new:
            continue
        if old is None or new is None:
            changes.append(f"{table}: {'created' if old is None else 'dropped'}")
            continue
        moved = [f"{what} {a} -> {b}" for what, a, b in zip(("inserted", "updated", "deleted"), old, new) if a != b]
        if old[3] != new[3]:
            moved.append("rewritten (TRUNCATE, VACUUM FULL, CLUSTER)")
        changes.append(f"{table}: {', '.join(moved)}")
    return changes


class FreezeError(RuntimeError):
    """The freeze cannot be made, or cannot be proven."""


# The source's tables as the planner names them (module_utils/catalog): a table created after
# the plan was read (a deploy during a long online copy) is in no target and in no list.
TABLES_SQL = r"""
SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
"""


def unplanned_tables(conn, planned):
    """The source's tables that ``planned`` (every table, partition and table left behind of the
    plan) does not account for."""
    return sorted({row[0] for row in conn.execute(TABLES_SQL)} - set(planned))


def unplanned_problem(database, tables):
    return (f"{database} has table(s) the plan does not account for: {', '.join(tables)}. They were created after the plan "
            "was read (a deploy during the migration?), and their rows would stay behind without a word: map each (a "
            "service's tables in dbsplit_services, or dbsplit_tables_left_behind) and run again")

