"""The reverse stream: every write the new services make to a target flows back to the
monolith until the operator finishes the migration, so a rollback after the cutover loses
nothing (Vitess MoveTables' ReverseTraffic, with PostgreSQL's logical replication).

Each target publishes its tables (publication ``dbsplit_reverse``) and the monolith's
database subscribes to it (one subscription a target, ``copy_data = false``: the two are
equal at the cutover, proven by the verify phase). The subscription and its slot are made
before any service starts on the target, so no write falls between.

What the facts of PostgreSQL 15 ask for (../shared/LOGICAL-REPLICATION.md):
- the frozen monolith takes the stream: its apply workers ignore ``default_transaction_read_only``;
  only the subscription's own DDL needs a session that turns it off;
- the apply workers do not check foreign keys: a row whose parent is in another database
  arrives even when the parent is gone (``orphans`` finds them once the stream caught up);
- sequences are not streamed: ``carry_sequences`` copies them back after the stream caught up;
  nor are large objects: ``carry_large_objects`` copies them back;
- a publisher needs ``wal_level = logical`` (a restart); each subscription needs an apply
  worker on the monolith's server (``max_logical_replication_workers``, 4 by default, a restart).
"""

import collections
import hashlib
import re
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.yemma.dbsplit.plugins.module_utils import login, pgconn, verify
from ansible_collections.yemma.dbsplit.plugins.module_utils.pgconn import quote_ident
from ansible_collections.yemma.dbsplit.plugins.module_utils.target import maintenance_connection

PUBLICATION = "dbsplit_reverse"
# What a target server needs; a slot kept by an absent subscriber holds WAL up to the cap.
PUBLISHER_SETTINGS = ("wal_level", "max_replication_slots", "max_wal_senders", "max_slot_wal_keep_size")
# Besides the apply workers: the launcher, and room for autovacuum's and queries' workers.
SPARE_WORKERS = 4


class ReverseError(RuntimeError):
    """The reverse stream cannot be set up, caught up or removed; the message names the fix."""


def subscription_name(target_key, database, direction="reverse"):
    """The subscription's (and its slot's) name: lower case, 63 bytes at most, unique per
    target (two targets can share a database name on two servers). ``direction``: reverse
    (a target to the monolith) or online (the monolith to a target, online mode's copy; the
    monolith's publication has that name too)."""
    readable = re.sub(r"[^a-z0-9_]+", "_", database.lower())[:30]
    return f"dbsplit_{direction}_{readable}_{hashlib.sha256(target_key.encode()).hexdigest()[:8]}"


def _settings(conn, names):
    rows = conn.execute("SELECT name, setting, unit, pending_restart FROM pg_settings WHERE name = ANY(%s)",
                        (list(names),)).fetchall()
    return {name: {"setting": setting, "unit": unit, "pending_restart": pending} for name, setting, unit, pending in rows}


def _apply(conn, settings, check_mode):
    """ALTER SYSTEM SET each of ``settings`` ([(name, value)]). Returns the settings left for
    someone who may to set (the login may not ALTER SYSTEM them: a managed server, a role that
    is not a superuser): named, never tried, so a check run says the same as the run would."""
    if not settings:
        return []
    if not login.may_alter_system(conn, [name for name, _value in settings]):
        return [f"{name} = {value}" for name, value in settings]
    if not check_mode:
        for name, value in settings:
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
    return []


def prepare_publisher(conn, wal_keep_mb, check_mode, slots=0):
    """Set what a server needs to publish: ``wal_level = logical`` (applied at the next
    restart), room for ``slots`` more slots and WAL senders besides those other tools use
    (a restart), and the cap on the WAL a slot may hold. Returns (changes, restart_needed,
    by_hand: the settings the login may not make)."""
    current = _settings(conn, PUBLISHER_SETTINGS)
    changes, settings = [], []
    if current["wal_level"]["setting"] != "logical":
        changes.append(f"wal_level {current['wal_level']['setting']} -> logical (restart)")
        settings.append(("wal_level", "logical"))
    wanted = _slots_in_use(conn) + slots
    for name in ("max_replication_slots", "max_wal_senders"):
        if slots and int(current[name]["setting"]) < wanted:
            changes.append(f"{name} {current[name]['setting']} -> {wanted} (restart)")
            settings.append((name, wanted))
    keep = current["max_slot_wal_keep_size"]  # MB
    reload = int(keep["setting"]) != wal_keep_mb
    if reload:
        changes.append(f"max_slot_wal_keep_size {keep['setting']} MB -> {wal_keep_mb} MB")
        settings.append(("max_slot_wal_keep_size", f"{wal_keep_mb}MB"))
    by_hand = _apply(conn, settings, check_mode)
    # pg_reload_conf is a superuser's unless granted: else the cap takes effect at a restart.
    reloadable = conn.execute("SELECT has_function_privilege('pg_reload_conf()', 'EXECUTE')").fetchone()[0]
    if reload and reloadable and not by_hand and not check_mode:
        conn.execute("SELECT pg_reload_conf()")
    restart = any(change.endswith("(restart)") for change in changes) or (reload and not reloadable) or any(
        current[name]["pending_restart"] for name in ("wal_level", "max_replication_slots", "max_wal_senders"))
    return changes, restart, by_hand


def _slots_in_use(conn):
    """Slots other tools hold: not this tool's streams, nor the table copies of its subscriptions."""
    return conn.execute("SELECT count(*) FROM pg_replication_slots WHERE slot_name NOT LIKE 'dbsplit\\_%' "
                        "AND slot_name !~ '^pg_[0-9]+_sync_'").fetchone()[0]


def prepare_subscriber(conn, streams, check_mode):
    """Give the monolith's server an apply worker for each of ``streams`` subscriptions
    (besides those it holds already). Returns (changes, restart_needed, by_hand: the settings
    the login may not make)."""
    current = _settings(conn, ("max_logical_replication_workers", "max_worker_processes", "max_replication_slots"))
    others = conn.execute("SELECT count(*) FROM pg_subscription WHERE subname NOT LIKE 'dbsplit\\_reverse\\_%'").fetchone()[0]
    needed = streams + others
    wanted = {"max_logical_replication_workers": needed,
              # the logical replication launcher and the apply workers are background workers
              "max_worker_processes": needed + 1 + SPARE_WORKERS,
              # on a subscriber, each subscription takes a replication origin from this pool
              "max_replication_slots": needed}
    changes, settings = [], []
    for name, value in wanted.items():
        if int(current[name]["setting"]) < value:
            changes.append(f"{name} {current[name]['setting']} -> {value} (restart)")
            settings.append((name, value))
    by_hand = _apply(conn, settings, check_mode)
    restart = bool(changes) or any(s["pending_restart"] for s in current.values())
    return changes, restart, by_hand


def prepare_servers(psycopg, servers, role, wal_keep_mb, check_mode):
    """Prepare every server of ``servers`` ([{name, server, streams}]) at once as a publisher or
    the subscriber: {name: {changes, restart_needed, problems, by_hand}}. ``problems``: what
    still stops a publisher once set and restarted (none while a restart is pending: it is the
    caller's). ``by_hand``: the settings the login may not make ("name = value"), left to whoever
    may, with the restart; a run (not a check) fails on them, naming them."""
    def prepare(spec):
        try:
            with server_session(psycopg, spec["server"]) as conn:
                if role == "subscriber":
                    changes, restart, by_hand = prepare_subscriber(conn, spec["streams"], check_mode)
                    problems = []
                else:
                    changes, restart, by_hand = prepare_publisher(conn, wal_keep_mb, check_mode, spec["streams"])
                    problems = [] if restart else publisher_problems(conn, spec["streams"])
        except psycopg.Error as exc:
            raise ReverseError(f"cannot prepare {spec['name']} ({spec['server']['login_host']}) for the reverse stream: "
                               f"{str(exc).strip()}") from None
        if by_hand and not check_mode:
            raise ReverseError(f"{spec['name']}: {by_hand_problem(spec['server']['login_user'], by_hand)}")
        return {"changes": changes, "restart_needed": restart, "problems": problems, "by_hand": by_hand}

    with ThreadPoolExecutor(max_workers=max(1, len(servers))) as pool:
        results = [(spec["name"], pool.submit(prepare, spec)) for spec in servers]
    return {name: future.result() for name, future in results}


def server_session(psycopg, server):
    """A session on the server of ``server``: on its database, or on a maintenance one while that
    database does not exist yet (the provision phase creates it; a check run does not). Settings
    and slots are the server's, read the same from any database."""
    try:
        return pgconn.connect(psycopg, server)
    except psycopg.OperationalError:
        conn = maintenance_connection(psycopg, server)
        if conn is None:
            raise
        return conn


def by_hand_problem(user, settings):
    """The settings of a server its login may not ALTER SYSTEM, with who may and how."""
    names = ", ".join(setting.split(" = ")[0] for setting in settings)
    return (f"its server needs {', '.join(settings)}, which {user} may not set: GRANT ALTER SYSTEM ON PARAMETER {names} "
            f"TO {pgconn.quote_ident(user)}; (PostgreSQL 15 on, and this tool sets them), or have them set where its "
            "configuration is kept (postgresql.conf, the provider's parameter group) and the server restarted, then "
            "run again")


def publisher_problems(conn, slots):
    """Why this server cannot (yet) publish ``slots`` more reverse streams."""
    current = _settings(conn, PUBLISHER_SETTINGS)
    problems = []
    if current["wal_level"]["setting"] != "logical":
        problems.append(f"wal_level is {current['wal_level']['setting']}, logical replication needs logical: "
                        "ALTER SYSTEM SET wal_level = logical, then restart the server (the provision phase does it "
                        "for the new databases it starts)")
    used = _slots_in_use(conn)
    for name in ("max_replication_slots", "max_wal_senders"):
        if int(current[name]["setting"]) < used + slots:
            problems.append(f"{name} is {current[name]['setting']}, {used} in use and {slots} more needed: "
                            f"ALTER SYSTEM SET {name} = {used + slots}, then restart the server")
    return problems


# The tables that hold rows among %(tables)s: plain tables, and the partitions of partitioned
# ones at any depth (pg_partition_tree lists nothing for a plain table).
TABLES_WITH_PARTITIONS = """
    SELECT c.oid FROM pg_class c
    WHERE c.relkind = 'r' AND c.oid IN (SELECT t FROM unnest(%(tables)s::regclass[]) t
                                        UNION ALL SELECT relid FROM unnest(%(tables)s::regclass[]) t, pg_partition_tree(t))"""


def identity_problems(conn, tables, full_identity, check_names=True):
    """Published tables whose UPDATE and DELETE would fail on the target for want of a replica
    identity (no primary key), unless the map gives them REPLICA IDENTITY FULL; and, with
    ``check_names`` (the plan: every migrated table), names in that list that are no migrated
    table (a typo would leave the table it meant refused). One target's stream checks only its own."""
    rows = conn.execute(f"""
        SELECT format('%%I.%%I', n.nspname, c.relname),
               c.relreplident = 'n' OR c.relreplident = 'd' AND NOT EXISTS (
                   SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.oid IN ({TABLES_WITH_PARTITIONS})
        ORDER BY 1""", {"tables": tables}).fetchall()
    problems = [f"table {name} has no primary key, so once it is published (the online copy on the monolith, the "
                f"reverse stream on its new database) every UPDATE and DELETE on it would fail there: give it a "
                f"primary key, or list it in "
                f"dbsplit_replica_identity_full (each change then carries the whole row)"
                for name, keyless in rows if keyless and name not in full_identity]
    known = set(tables) | {name for name, _ in rows}
    problems += [f"dbsplit_replica_identity_full names {name}, which is no table this migration publishes: "
                 f"write a migrated table as the plan prints it (schema.name), or remove the line"
                 for name in full_identity if check_names and name not in known]
    return problems


def publish(conn, tables, full_identity, check_mode, publication=PUBLICATION):
    """The publication of ``tables`` (a partitioned table brings its partitions) on the
    publisher (a target, or the monolith in online mode). Returns whether it changed."""
    changed = False
    for name in full_identity:
        if name in tables and conn.execute("SELECT relreplident <> 'f' FROM pg_class WHERE oid = %s::regclass",
                                           (name,)).fetchone()[0]:
            changed = True
            if not check_mode:
                conn.execute(f"ALTER TABLE {name} REPLICA IDENTITY FULL")
    published = {row[0] for row in conn.execute(
        "SELECT format('%%I.%%I', schemaname, tablename) FROM pg_publication_tables WHERE pubname = %s",
        (publication,)).fetchall()}
    exists = conn.execute("SELECT count(*) FROM pg_publication WHERE pubname = %s", (publication,)).fetchone()[0]
    # pg_publication_tables lists the partitions of a published partitioned table.
    wanted = {row[0] for row in conn.execute(f"""
        SELECT format('%%I.%%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.oid IN ({TABLES_WITH_PARTITIONS})""", {"tables": tables}).fetchall()}
    if exists and published == wanted:
        return changed
    if not check_mode:
        listed = ", ".join(tables)
        if not exists:
            _writable(conn)  # the monolith in online mode may be frozen by a failed cutover
        conn.execute(f"ALTER PUBLICATION {quote_ident(publication)} SET TABLE {listed}" if exists
                     else f"CREATE PUBLICATION {quote_ident(publication)} FOR TABLE {listed}")
    return True


def conninfo(runtime, password, application_name="dbsplit-reverse"):
    """The subscriber's connection string to its publisher, as libpq reads it."""
    def value(text):
        return "'" + str(text).replace("\\", "\\\\").replace("'", "\\'") + "'"
    return " ".join(f"{key}={value(val)}" for key, val in (
        ("host", runtime["tools_host"]), ("port", runtime["login_port"]), ("dbname", runtime["db"]),
        ("user", runtime["login_user"]), ("password", password), ("application_name", application_name)))


def _writable(conn):
    # The monolith is frozen (default_transaction_read_only on the database): this session only
    # lifts it for itself.
    conn.execute("SET default_transaction_read_only = off")


def _unlogged(conn):
    """Turn off, for this session, everything that would log or keep a statement's text; a
    setting it may not turn off and that would log the password is refused before the statement."""
    left_on = login.turn_off_logging(conn)
    if left_on:
        raise ReverseError(logging_problem(conn.info.user, [f"{name} = {value}" for name, value in left_on]))


def logging_problem(user, settings):
    """Settings a session of ``user`` may not turn off and that would log CREATE SUBSCRIPTION's
    password, with the statements that let it."""
    names = ", ".join(setting.split(" = ")[0] for setting in settings)
    role = pgconn.quote_ident(user)
    return (f"a session of {user} may not turn off {names}, which would write the password CREATE SUBSCRIPTION carries to "
            f"the server's log or pg_stat_statements: GRANT SET ON PARAMETER {names} TO {role}; (PostgreSQL 15 on), or, "
            f"as a superuser, {' '.join(f'ALTER ROLE {role} SET {setting};' for setting in settings)}")


def subscribe(conn, target, name, connection, check_mode, copy_data=False, publication=PUBLICATION, on_slot=False):
    """The subscription of ``conn`` (the monolith; a target in online mode) to the publication
    on ``target`` (its publisher), its slot created now. Returns whether it changed.
    ``copy_data``: the subscriber's tables are empty (a monolith rebuilt from the backup without
    them) and receive the publisher's rows first, then the stream. ``on_slot``: the slot exists
    already (online mode: the copy created it with the snapshot it copied from) and the stream
    starts where it stands."""
    if conn.execute("SELECT count(*) FROM pg_subscription WHERE subname = %s", (name,)).fetchone()[0]:
        return False
    slot = target.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (name,)).fetchone()
    if on_slot and not check_mode and (not slot or slot[0]):
        raise ReverseError(f"slot {name} on the publisher is " + ("in use by another subscriber" if slot else "missing")
                           + ": the rows copied from its snapshot cannot be followed by its changes; start the copy "
                           "again: rollback.yml, then migrate.yml")
    if not check_mode:
        # A slot without its subscription: the monolith that held it is gone (its volume
        # was rebuilt from the backup); a new slot starts from now.
        if slot and not on_slot:
            if slot[0]:
                raise ReverseError(f"slot {name} on the target is in use by another subscriber: remove that subscription")
            target.execute("SELECT pg_drop_replication_slot(%s)", (name,))
        _writable(conn)
        _unlogged(conn)
        literal = "'" + connection.replace("'", "''") + "'"
        options = subscription_options(conn.info.server_version, target.info.server_version, copy_data, not on_slot)
        conn.execute(f"CREATE SUBSCRIPTION {quote_ident(name)} CONNECTION {literal} PUBLICATION {quote_ident(publication)} "
                     f"WITH (slot_name = {quote_ident(name)}, {', '.join(f'{k} = {v}' for k, v in options.items())})")
    return True


def subscription_options(subscriber_version, publisher_version, copy_data, create_slot=True):
    """CREATE SUBSCRIPTION's options (but the slot's name) that the two servers' versions
    (server_version_num) allow:
    - disable_on_error (15): an apply error stops the stream, which the tool reports; below 15
      the apply worker retries forever, and wait_applied stops it (stop_when_failing);
    - origin = none (16): only changes made on the publisher travel, never one it received from
      a subscription of its own, so a stream can never loop back;
    - binary (16, and the same major version on both sides, as the docs require for the
      initial copy): the rows travel in binary, which is faster and takes less CPU."""
    options = {"copy_data": "true" if copy_data else "false", "create_slot": "true" if create_slot else "false"}
    if subscriber_version >= 150000:
        options["disable_on_error"] = "true"
    if subscriber_version >= 160000:
        options["origin"] = "none"
        if subscriber_version // 10000 == publisher_version // 10000:
            options["binary"] = "true"
    return options


def start(source, target, target_runtime, name, tables, full_identity, check_mode, copy_data=False):
    """The reverse stream of one target: the target publishes its tables and the monolith
    ``source`` subscribes, its slot created now (``copy_data``: see subscribe). ``full_identity``
    names every target's tables (the plan checked it whole). Returns whether it changed."""
    problems = identity_problems(target, tables, full_identity, check_names=False)
    if problems:
        raise ReverseError("the reverse stream cannot publish every table: " + "; ".join(problems))
    changed = publish(target, tables, full_identity, check_mode)
    connection = conninfo(target_runtime, target_runtime["login_password"])
    return subscribe(source, target, name, connection, check_mode, copy_data) or changed


def unsubscribe(conn, name, check_mode):
    """Remove the subscription and, through it, its slot on the target. Returns whether it changed."""
    if not conn.execute("SELECT count(*) FROM pg_subscription WHERE subname = %s", (name,)).fetchone()[0]:
        return False
    if not check_mode:
        _writable(conn)
        conn.execute(f"DROP SUBSCRIPTION {quote_ident(name)}")
    return True


def unpublish(conn, name, check_mode, unsubscribed=False, publication=PUBLICATION):
    """Remove the publisher's publication and a slot its subscription left behind.
    ``unsubscribed``: a check run would have dropped the subscription (and with it the slot)."""
    changed = False
    if conn.execute("SELECT count(*) FROM pg_publication WHERE pubname = %s", (publication,)).fetchone()[0]:
        changed = True
        if not check_mode:
            _writable(conn)
            conn.execute(f"DROP PUBLICATION {quote_ident(publication)}")
    slot = conn.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (name,)).fetchone()
    if slot:
        if slot[0] and not (check_mode and unsubscribed):
            raise ReverseError(f"slot {name} is still in use by a subscriber: remove its subscription first")
        changed = True
        if not check_mode:
            conn.execute("SELECT pg_drop_replication_slot(%s)", (name,))
    return changed


STATUS_SQL = """
SELECT s.active, s.wal_status,
       pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint,
       pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint,
       extract(epoch FROM coalesce(r.replay_lag, r.flush_lag, r.write_lag))::float8,
       pg_current_wal_lsn()::text, s.confirmed_flush_lsn::text
FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid
WHERE s.slot_name = %s
"""

# The subscription, its apply worker, and (from PostgreSQL 15) its count of apply errors.
SUBSCRIPTION_SQL = """
SELECT s.subenabled, w.pid IS NOT NULL, {errors}
FROM pg_subscription s
LEFT JOIN pg_stat_subscription w ON w.subid = s.oid AND w.relid IS NULL{stats}
WHERE s.subname = %s
"""


def subscription_sql(server_version):
    if server_version >= 150000:
        return SUBSCRIPTION_SQL.format(errors="coalesce(st.apply_error_count, 0)",
                                       stats="\nLEFT JOIN pg_stat_subscription_stats st ON st.subid = s.oid")
    return SUBSCRIPTION_SQL.format(errors="NULL::bigint", stats="")


def status(source, target, name):
    """Where the stream stands: {exists, enabled, applying, apply_errors, lag_bytes,
    lag_seconds, held_bytes, wal_status}. The lag is the target's WAL not yet confirmed
    applied; the WAL held is what the slot keeps on the target's disk."""
    sub = source.execute(subscription_sql(source.info.server_version), (name,)).fetchone()
    slot = target.execute(STATUS_SQL, (name,)).fetchone()
    figures = {"exists": sub is not None and slot is not None, "enabled": bool(sub and sub[0]),
               "applying": bool(sub and sub[1]), "apply_errors": sub[2] if sub else 0}
    if slot:
        active, wal_status, lag, held, seconds, _current, _confirmed = slot
        figures.update(connected=bool(active), wal_status=wal_status, lag_bytes=max(lag or 0, 0), held_bytes=held or 0,
                       lag_seconds=round(seconds, 1) if seconds is not None else (0.0 if active else None))
    return figures


def problems_of(name, figures):
    """Why a stream cannot carry writes back now, each with its fix."""
    if not figures["exists"]:
        return [f"the reverse stream {name} is missing (subscription on the monolith or slot on the target): "
                "writes made on the target since it went missing are not in the monolith"]
    problems = []
    if figures.get("wal_status") == "lost":
        problems.append(f"slot {name} lost WAL it had not sent (max_slot_wal_keep_size reached while the monolith "
                        "was away): writes are missing from the monolith; only the migration backup and the "
                        "targets hold them")
    if not figures["enabled"]:
        # Before PostgreSQL 15 no error is counted: the tool disabled it (stop_when_failing).
        errors = ("an apply error or a publisher it could not reach (its apply worker kept failing; PostgreSQL "
                  "before 15 counts no errors)" if figures["apply_errors"] is None
                  else f"{figures['apply_errors']} apply error(s)")
        problems.append(f"subscription {name} is disabled after {errors}: read the monolith's log (docker logs "
                        "<its container>) for the row it could not apply, fix it, then "
                        f"ALTER SUBSCRIPTION {name} ENABLE")
    return problems


# Before PostgreSQL 15, a stream whose apply worker was connected to its publisher in less
# than half of the polls over this many seconds is failing (see stop_when_failing).
FAILING_AFTER = 15


def failing(figures, recent):
    """Before PostgreSQL 15 (no disable_on_error, no error count) an apply error ends the apply
    worker and the launcher starts another some seconds later (wal_retrieve_retry_interval),
    forever, while the publisher's slot holds its WAL: the worker is connected only for a moment
    in each round. Whether the stream is so: its worker was connected in less than half of the
    ``recent`` polls (the caller's deque of FAILING_AFTER seconds of them, updated here)."""
    recent.append(bool(figures.get("connected")))
    return (figures["apply_errors"] is None and figures["enabled"] and len(recent) == recent.maxlen
            and sum(recent) * 2 < len(recent))


def stop_when_failing(source, name, figures, recent):
    """Disable a failing stream (see ``failing``), as disable_on_error would. Returns the figures."""
    if not failing(figures, recent):
        return figures
    _writable(source)
    source.execute(f"ALTER SUBSCRIPTION {quote_ident(name)} DISABLE")
    return dict(figures, enabled=False, applying=False)


SYNCING_SQL = """
SELECT count(*) FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid
WHERE s.subname = %s AND r.srsubstate <> 'r'
"""


def wait_applied(source, target, name, timeout, poll=0.5):
    """Wait until the subscriber ``source`` (the monolith; a target in online mode) has applied
    every change its publisher ``target`` wrote up to now (its current WAL position), and copied
    every table. Returns (seconds waited, the position)."""
    goal = target.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
    started, recent = time.monotonic(), collections.deque(maxlen=max(2, int(FAILING_AFTER / poll)))
    while True:
        figures = stop_when_failing(source, name, status(source, target, name), recent)
        problems = problems_of(name, figures)
        if problems:
            raise ReverseError("; ".join(problems))
        done = target.execute("SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots WHERE slot_name = %s",
                              (goal, name)).fetchone()[0]
        # A subscription that copies the tables first (copy_data) is caught up once every
        # table's copy is done too.
        copying = source.execute(SYNCING_SQL, (name,)).fetchone()[0]
        if done and not copying:
            return round(time.monotonic() - started, 1), goal
        if time.monotonic() - started > timeout:
            raise ReverseError(f"the subscriber has not applied its publisher's changes up to {goal} after {timeout} s "
                               f"({figures.get('lag_bytes')} bytes behind, {copying} table(s) still being copied, "
                               f"subscriber {'connected' if figures.get('connected') else 'not connected'}): are both "
                               "servers running and able to reach each other? The subscriber's log says why (docker logs)")
        time.sleep(poll)


SEQUENCE_SQL = "SELECT last_value, is_called FROM {sequence}"


def carry_sequences(target, source, sequences, check_mode):
    """Set each sequence of the monolith to where the target's is, so the old services' next
    value does not collide with a row the new ones made. Returns the sequences that moved."""
    moved = []
    if not check_mode and sequences:
        _writable(source)
    for name in sequences:
        there = target.execute(SEQUENCE_SQL.format(sequence=name)).fetchone()
        here = source.execute(SEQUENCE_SQL.format(sequence=name)).fetchone()
        if tuple(there) != tuple(here):
            moved.append({"sequence": name, "from": here[0], "to": there[0]})
            if not check_mode:
                source.execute("SELECT setval(%s::regclass, %s, %s)", (name, there[0], there[1]))
    return moved


# Logical replication does not stream pg_largeobject: the target that received the large
# objects gives them back object by object. lo_get reads one object whole on the server (one
# at a time; an object over 1 GB cannot be read this way).
LARGE_OBJECT_HASHES_SQL = "SELECT oid::bigint, md5(lo_get(oid)) FROM pg_largeobject_metadata"
LARGE_OBJECT_CHUNK = 1 << 20  # bytes copied a round trip


def carry_large_objects(target, source, check_mode):
    """Make the monolith's large objects those of the target: created, rewritten or removed
    by oid, content copied in chunks. A rerun after a failure finds what still differs.
    Returns the objects that moved, [{oid, action}]."""
    there = dict(target.execute(LARGE_OBJECT_HASHES_SQL).fetchall())
    here = dict(source.execute(LARGE_OBJECT_HASHES_SQL).fetchall())
    moved = [{"oid": oid, "action": "removed"} for oid in sorted(set(here) - set(there))]
    moved += [{"oid": oid, "action": "rewritten" if oid in here else "created"}
              for oid in sorted(there) if here.get(oid) != there[oid]]
    if check_mode or not moved:
        return moved
    _writable(source)
    for change in moved:
        oid = change["oid"]
        if oid in here:
            source.execute("SELECT lo_unlink(%s)", (oid,))
        if change["action"] == "removed":
            continue
        source.execute("SELECT lo_create(%s)", (oid,))
        offset = 0
        while True:
            chunk = target.execute("SELECT lo_get(%s, %s, %s)", (oid, offset, LARGE_OBJECT_CHUNK)).fetchone()[0]
            if chunk:
                source.execute("SELECT lo_put(%s, %s, %s)", (oid, offset, chunk))
                offset += len(chunk)
            if len(chunk) < LARGE_OBJECT_CHUNK:
                break
    return moved


FOREIGN_KEY_SQL = """
SELECT (SELECT format('%%I.%%I', n.nspname, r.relname) FROM pg_class r JOIN pg_namespace n ON n.oid = r.relnamespace
        WHERE r.oid = c.confrelid),
       array(SELECT quote_ident(attname) FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i),
       array(SELECT quote_ident(attname) FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i),
       coalesce(array(SELECT quote_ident(attname) FROM pg_index x
                      CROSS JOIN unnest(x.indkey) WITH ORDINALITY k(n, i)
                      JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.n
                      WHERE x.indrelid = c.conrelid AND x.indisprimary ORDER BY k.i), '{}')
FROM pg_constraint c
WHERE c.conrelid = %s::regclass AND c.conname = %s AND c.contype = 'f'
"""


def orphans(conn, foreign_keys, shown=10):
    """Rows of the monolith that break a foreign key the split databases could not enforce
    (the parent lives in another database, or stayed behind): the reverse stream applied
    them, PostgreSQL does not check. One entry per broken constraint, with the first keys."""
    found = []
    for fk in foreign_keys:
        row = conn.execute(FOREIGN_KEY_SQL, (fk["table"], fk["constraint"])).fetchone()
        if row is None:
            continue  # the constraint is gone from the monolith: nothing to break
        parent, columns, referenced, primary_key = row
        key = primary_key or columns
        match = " AND ".join(f"p.{r} = c.{col}" for col, r in zip(columns, referenced))
        not_null = " AND ".join(f"c.{col} IS NOT NULL" for col in columns)
        broken = (f"FROM {fk['table']} c WHERE {not_null} AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {match})")
        count = conn.execute(f"SELECT count(*) {broken}").fetchone()[0]
        if not count:
            continue
        keys = conn.execute(f"SELECT {', '.join('c.' + k + '::text' for k in key)}, "
                            f"{', '.join('c.' + col + '::text' for col in columns)} {broken} ORDER BY 1 LIMIT {shown}"
                            ).fetchall()
        found.append({"table": fk["table"], "constraint": fk["constraint"], "references": parent, "rows": count,
                      "examples": [f"({', '.join(key)})=({', '.join(r[:len(key)])}) -> {parent} "
                                   f"({', '.join(referenced)})=({', '.join(r[len(key):])})" for r in keys]})
    return found


def orphan_lines(found):
    return [f"{o['table']}: {o['rows']} row(s) break {o['constraint']} (their parent in {o['references']} is gone): "
            + "; ".join(o["examples"]) + (" ..." if o["rows"] > len(o["examples"]) else "") for o in found]


def stream_state(psycopg, source_params, spec, state, check_mode, full_identity=(), timeout=300, copy_data=False):
    """Bring one target's reverse stream to ``state`` (present, applied, absent) or read it
    (info); ``spec``: {plan, endpoint}. Return what was done and where the stream stands."""
    plan, endpoint = spec["plan"], spec["endpoint"]
    name = subscription_name(plan["key"], plan["database"])
    tables = [table["name"] for table in plan["tables"]]
    result = {"key": plan["key"], "label": plan["label"], "name": name, "changed": False, "problems": []}
    with pgconn.connect(psycopg, source_params) as source, pgconn.connect(psycopg, endpoint) as target:
        if state == "present":
            result["changed"] = start(source, target, endpoint, name, tables, list(full_identity), check_mode, copy_data)
        elif state == "applied":
            result["waited_seconds"], result["applied_lsn"] = (0.0, None) if check_mode else \
                wait_applied(source, target, name, timeout)
            result["sequences"] = carry_sequences(target, source, verify.planned_relations(plan)[2], check_mode)
            result["large_objects"] = carry_large_objects(target, source, check_mode) if plan.get("large_objects") else []
            result["changed"] = bool(result["sequences"] or result["large_objects"])
        elif state == "absent":
            unsubscribed = unsubscribe(source, name, check_mode)
            result["changed"] = unpublish(target, name, check_mode, unsubscribed) or unsubscribed
        result["status"] = status(source, target, name)
        if state == "info":
            result["problems"] = problems_of(name, result["status"])
            result["orphans"] = orphans(source, plan["dropped_foreign_keys"])
    return result


def each_stream(psycopg, source_params, targets, state, check_mode, **options):
    """stream_state for every target at once (a catch-up waits on every target together).
    Return (results of the targets that succeeded, errors naming each target that failed)."""
    if not targets:
        return [], []
    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        futures = [(spec, pool.submit(stream_state, psycopg, source_params, spec, state, check_mode, **options))
                   for spec in targets]
    streams, errors = [], []
    for spec, future in futures:
        try:
            streams.append(future.result())
        except (psycopg.Error, ReverseError) as exc:
            errors.append(f"{spec['endpoint']['db']} -> {source_params['db']}: {str(exc).strip()}")
    return streams, errors
