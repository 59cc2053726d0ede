"""Online mode: the bulk copy while the old services keep serving on the monolith (Vitess
MoveTables, pgcopydb --follow), with PostgreSQL's logical replication.

The transfer restores each target's schema from the backup (what its tables need, as in
offline mode) without the moved tables' rows, indexes or constraints; module_utils/bulkcopy.py
publishes that target's tables on the monolith (one publication a target, named like the
subscription), creates its slot with a snapshot and copies the rows from that snapshot; the
restore builds the indexes and constraints; then the target subscribes on that slot
(``copy_data = false``): the stream applies every change the old services made since. The cutover stops the services, freezes the monolith,
waits until each target applied everything up to the freeze (``reverse.wait_applied``, the same
wait as the reverse stream's, the other way round), carries the sequences and large objects,
and removes the subscription and the publication before the reverse stream starts: two
subscriptions in opposite directions would send every change back and forth.

Schema changes are not streamed: a column added on the monolith during the copy makes the
target's apply fail on the first row that has it. ``schema_changes`` compares each published
table's columns, indexes, constraints and triggers on both sides before the cutover.
"""

import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.yemma.dbsplit.plugins.module_utils import fingerprint, freeze, pgconn, reverse, verify
# A target's state marker (its database comment); "target" here names a target's connection.
from ansible_collections.yemma.dbsplit.plugins.module_utils import target as marker
from ansible_collections.yemma.dbsplit.plugins.module_utils.pgconn import quote_ident

DIRECTION = "online"
APPLICATION = "dbsplit-online"


def stream_name(target_key, database):
    """The subscription on the target, its slot and the publication on the monolith."""
    return reverse.subscription_name(target_key, database, DIRECTION)


# Each published table on the target: its copy's state (pg_subscription_rel: i init, d data
# being copied, f copied, s synchronized, r ready: streamed) and, while copied, the rows done.
TABLE_STATES_SQL = """
SELECT format('%%I.%%I', n.nspname, c.relname), r.srsubstate::text, p.tuples_processed, pg_table_size(c.oid)
FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid
JOIN pg_class c ON c.oid = r.srrelid JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_progress_copy p ON p.relid = r.srrelid AND p.datid = (
    SELECT oid FROM pg_database WHERE datname = current_database())
WHERE s.subname = %s
ORDER BY 1
"""

SOURCE_SIZES_SQL = f"""
SELECT format('%%I.%%I', n.nspname, c.relname), pg_table_size(c.oid), greatest(c.reltuples, 0)::bigint
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid IN ({reverse.TABLES_WITH_PARTITIONS})
"""

COPIED = ("s", "r")
LOCK_TIMEOUT = 60  # seconds a statement of the cutover's switch may wait for a lock


def copy_progress(monolith, target, name, tables):
    """Where the initial copy stands, table by table: [{table, state, bytes_done, bytes,
    rows_done, rows}] and the totals. Bytes are table sizes (heap and TOAST, no index): a
    copied table counts whole, a table being copied counts what it holds on the target so far."""
    sizes = {row[0]: row[1:] for row in monolith.execute(SOURCE_SIZES_SQL, {"tables": tables}).fetchall()}
    figures = []
    for table, state, rows_done, size_here in target.execute(TABLE_STATES_SQL, (name,)).fetchall():
        size, rows = sizes.get(table, (0, 0))
        done = size if state in COPIED else (min(size_here, size) if state in ("d", "f") else 0)
        figures.append({"table": table, "state": state, "bytes_done": done, "bytes": size,
                        "rows_done": rows if state in COPIED else (rows_done or 0), "rows": rows})
    return {"tables": figures, "copied": sum(f["state"] in COPIED for f in figures), "count": len(sizes),
            "bytes_done": sum(f["bytes_done"] for f in figures), "bytes": sum(size for size, _ in sizes.values())}


def tables_copying(target, name):
    """The tables whose initial copy is not done yet on ``target`` (subscription ``name``)."""
    return sorted(table for table, state, _rows, _size in target.execute(TABLE_STATES_SQL, (name,)).fetchall()
                  if state not in COPIED)


def _size(count):
    for unit in ("bytes", "kB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return str(count)


def progress_line(label, progress, lag):
    """One line for the operator: tables subscribed, their bytes, and the stream's lag; a table
    not synchronized yet (its subscription's state, e.g. after ALTER SUBSCRIPTION ... REFRESH
    PUBLICATION by hand) is named with its rows."""
    line = f"{label}: {progress['copied']}/{progress['count']} tables copied, {_size(progress['bytes_done'])} of {_size(progress['bytes'])}"
    copying = [f"{f['table']} {f['rows_done']:,} of ~{f['rows']:,} rows" for f in progress["tables"] if f["state"] not in COPIED]
    if copying:
        return line + "; not synchronized yet: " + ", ".join(copying)
    seconds = lag.get("lag_seconds")
    return line + f"; streaming, lag {_size(lag.get('lag_bytes') or 0)}" + (f", {seconds} s" if seconds is not None else "")


def subscribe_problem(target_conn, tool):
    """Why a target may not subscribe to its slot yet (its rows copied and its indexes built: marker
    "restored"), with the fix; None when it may."""
    state = marker.inspect(target_conn, tool)["state"]
    if state in ("restored", "live"):
        return None
    return (f"is {state}: its rows are not copied and its indexes not built yet, so the stream has nothing to apply "
            "to; run migrate.yml again (the transfer copies, then builds, then subscribes)")


def schema_changes(monolith, target, tables, dropped_constraints):
    """What changed on the monolith's published tables since their schema was restored on the
    target (each table's columns, indexes, constraints and triggers), as lines naming the
    table; [] when nothing did. The planned dropped foreign keys are not changes."""
    changes = []
    for table in tables:
        if monolith.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None:
            changes.append(f"{table}: dropped")
            continue
        now = fingerprint.schema_objects(monolith, table)
        then = {key: value for key, value in fingerprint.schema_objects(target, table).items()}
        dropped = dropped_constraints.get(table, set())
        for key in sorted(set(now) | set(then)):
            if key[0] == "constraint" and key[1] in dropped:
                continue
            if key not in then:
                changes.append(f"{table}: {key[0]} {key[1]} added ({now[key]})")
            elif key not in now:
                changes.append(f"{table}: {key[0]} {key[1]} removed")
            elif now[key] != then[key]:
                changes.append(f"{table}: {key[0]} {key[1]} changed from {then[key]} to {now[key]}")
    return changes


def problems_of(name, status, changes):
    """What stops the copy of ``name`` or makes it wrong, each with its fix."""
    problems = []
    if not status["exists"]:
        problems.append(f"the online copy {name} is missing (subscription on the target or its slot on the monolith; "
                        "a cutover that failed after removing it, or a hand): start the copy again with rollback.yml, "
                        "then migrate.yml")
    if status.get("wal_status") == "lost":
        problems.append(f"slot {name} lost WAL the target had not received (max_slot_wal_keep_size): the copy cannot "
                        "go on; start it again: rollback.yml, then migrate.yml")
    if status["exists"] and not status["enabled"]:
        problems.append(f"subscription {name} is disabled after {status['apply_errors']} apply error(s): read the target's "
                        "log (docker logs <its container>) for the row it could not apply; start the copy again with "
                        "rollback.yml, then migrate.yml")
    if changes:
        problems.append("the schema of the published tables changed on the monolith since the copy began (logical "
                        "replication does not carry it): " + "; ".join(changes) + ". Make the same change on the "
                        "target, or start the copy again: rollback.yml, then migrate.yml")
    return problems


def dropped_constraints(plan):
    """{table: the foreign keys the plan drops on the target}: no schema change."""
    dropped = {}
    for fk in plan["dropped_foreign_keys"]:
        dropped.setdefault(fk["table"], set()).add(fk["constraint"])
    return dropped


def catch_up(monolith, target, name, plan, timeout, check_mode):
    """Once the monolith is frozen: wait until the target applied every change up to now, refuse
    a schema change, carry the sequences (read back: the proof that follows compares snapshots,
    which sequences are outside of) and the large objects. Returns what it did."""
    waited = 0.0 if check_mode else reverse.wait_applied(target, monolith, name, timeout)[0]
    changes = schema_changes(monolith, target, [t["name"] for t in plan["tables"]], dropped_constraints(plan))
    if changes:
        raise reverse.ReverseError("; ".join(problems_of(name, {"exists": True, "enabled": True}, changes)))
    sequences = verify.planned_relations(plan)[2]
    moved = reverse.carry_sequences(monolith, target, sequences, check_mode)
    if not check_mode and reverse.carry_sequences(monolith, target, sequences, check_mode=True):
        raise reverse.ReverseError(f"the sequences of {plan['label']} differ from the monolith's after being set")
    objects = reverse.carry_large_objects(monolith, target, check_mode) if plan.get("large_objects") else []
    refreshed = refresh_views(monolith, target, plan, check_mode)
    return {"waited_seconds": waited, "sequences": moved, "large_objects": objects, "refreshed_views": refreshed}


def refresh_views(monolith, target, plan, check_mode):
    """Refresh the target's materialized views that the monolith holds populated, from the rows
    the copy brought (the schema restore left them empty: toc.without_rows_of); a view that
    reads another is created, and so refreshed, after it. Returns their names. The proof then
    compares each with what its query gives on the monolith (verify.MATVIEWS_REFRESHED_ON_TARGET)."""
    views = [o["identity"] for o in plan["objects"].values() if o["class"] == "pg_class" and o["kind"] == "m"]
    if not views:
        return []
    populated = [name for (name,) in monolith.execute(
        "SELECT q FROM unnest(%s::text[]) AS q JOIN pg_class c ON c.oid = q::regclass WHERE c.relispopulated", (views,))]
    ordered = [name for (name,) in target.execute(
        "SELECT q FROM unnest(%s::text[]) AS q ORDER BY q::regclass::oid", (populated,))]
    if not check_mode:
        for name in ordered:
            target.execute(f"REFRESH MATERIALIZED VIEW {name}")
    return ordered


def remove(monolith, target, name, identity, check_mode):
    """The copy gone from both ends (subscription, slot, publication), and REPLICA IDENTITY
    DEFAULT back on the monolith's ``identity`` tables. Returns whether it changed."""
    unsubscribed = reverse.unsubscribe(target, name, check_mode)
    changed = reverse.unpublish(monolith, name, check_mode, unsubscribed, publication=name) or unsubscribed
    for table in identity:
        if monolith.execute("SELECT relreplident = 'f' FROM pg_class WHERE oid = to_regclass(%s)", (table,)).fetchone()[0]:
            changed = True
            if not check_mode:
                monolith.execute("SET default_transaction_read_only = off")
                monolith.execute(f"ALTER TABLE {table} REPLICA IDENTITY DEFAULT")
    return changed


def _switched(monolith, target, name, back):
    """The online copy ``name`` is gone and the reverse stream ``back`` runs."""
    copying = target.execute("SELECT count(*) FROM pg_subscription WHERE subname = %s", (name,)).fetchone()[0]
    streaming = monolith.execute("SELECT count(*) FROM pg_subscription WHERE subname = %s", (back,)).fetchone()[0]
    return not copying and streaming


def freeze_monolith(psycopg, source, check_mode):
    """The monolith frozen (freeze.freeze), and proven so from a new session, as a service
    would see it. Returns (whether it was frozen now, how many sessions were ended)."""
    with pgconn.connect(psycopg, source) as monolith:
        problems = freeze.overrides(monolith)
        if problems:
            raise freeze.FreezeError("the freeze would not hold: " + "; ".join(problems))
        if freeze.is_frozen(monolith) or check_mode:
            return not freeze.is_frozen(monolith), 0
        ended = freeze.freeze(monolith)
    with pgconn.connect(psycopg, source) as fresh:
        if fresh.execute("SHOW default_transaction_read_only").fetchone()[0] != "on":
            raise freeze.FreezeError(f"{source['db']} is still writable for new sessions after the freeze")
    return True, ended


class Alongside:
    """A command run beside the switch (the old services' stop), waited for before the task
    returns whatever happened: nothing may start them again while it runs."""

    def __init__(self, argv, cwd):
        self.argv = argv
        self.process = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)

    def wait(self, timeout):
        """None when it succeeded, else what went wrong (its exit code and last output lines)."""
        try:
            output, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            output, _ = self.process.communicate()
            return f"{' '.join(self.argv[:3])} ... did not end within {timeout} s (killed): {output.strip()[-500:]}"
        if self.process.returncode:
            return f"{' '.join(self.argv)} exited with {self.process.returncode}: {output.strip()[-1000:]}"
        return None


class Stopwatch:
    """Seconds of each step, in order (where the downtime goes: the switch reports them)."""

    def __init__(self):
        self.laps, self._last = {}, time.monotonic()

    def lap(self, step):
        now = time.monotonic()
        self.laps[step], self._last = round(now - self._last, 2), now


def wait_for_file(path, timeout):
    """Whether ``path`` appeared within ``timeout`` seconds (how the cutover's switch and the
    proof running beside it hand over: each writes a file the other waits for)."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _mark_live(conn, tool, plan_hash, backup_id, check_mode):
    """Mark a switched target live (what dbsplit_target_mark does, here to spare the downtime a
    round trip); whether it was not live yet."""
    info = marker.inspect(conn, tool)
    problem = marker.not_markable(info, plan_hash, backup_id)
    if problem:
        raise reverse.ReverseError(f"cannot be marked live: it {problem}")
    if info["state"] != "live" and not check_mode:
        marker.set_marker(conn, tool, plan_hash, backup_id, "live")
    return info["state"] != "live"


def switch(psycopg, source, targets, full_identity, reverse_stream, timeout, check_mode, live_mark=None):
    """The cutover's data switch, every target at once (the services stopped, the monolith
    frozen: freeze_monolith): each target catches up, receives the sequences and large objects, loses its online
    copy and, with ``reverse_stream``, starts the stream back to the monolith; a target an
    earlier run switched is left as it is. ``live_mark``: (plan hash, backup id) the targets are
    restored from, to mark each live (services about to write to it) once switched. ``targets``:
    [{plan, endpoint}]. Returns ({label: what was done}, [failures, each naming its target])."""
    def one(target):
        plan, endpoint = target["plan"], target["endpoint"]
        name, back = stream_name(plan["key"], plan["database"]), reverse.subscription_name(plan["key"], plan["database"])
        tables = [table["name"] for table in plan["tables"]]
        with pgconn.connect(psycopg, source) as monolith, pgconn.connect(psycopg, endpoint) as conn:
            # In the downtime, a lock someone else holds fails the switch loudly (and the
            # fail-safe returns to the monolith) instead of waiting without end.
            for session in (monolith, conn):
                session.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}s'")
            clock = Stopwatch()
            if reverse_stream and _switched(monolith, conn, name, back):
                # Switched by an earlier run: the target may hold the new services' writes and
                # sequences since, which a catch-up from the monolith would set back.
                done = {"waited_seconds": 0.0, "sequences": [], "large_objects": [], "removed": False,
                        "reverse_stream": False}
            else:
                done = catch_up(monolith, conn, name, plan, timeout, check_mode)
                clock.lap("catch_up")
                done["removed"] = remove(monolith, conn, name, [t for t in full_identity if t in tables], check_mode)
                clock.lap("remove")
                done["reverse_stream"] = reverse_stream and reverse.start(monolith, conn, endpoint, back, tables,
                                                                          full_identity, check_mode)
                clock.lap("reverse_stream")
            if live_mark:
                done["marked_live"] = _mark_live(conn, endpoint["tool_name"], *live_mark, check_mode)
                clock.lap("mark_live")
        return dict(done, seconds=clock.laps)

    with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
        futures = [(target["plan"]["label"], pool.submit(one, target)) for target in targets]
        done, failures = {}, []
        for label, future in futures:
            try:
                done[label] = future.result()
            except (psycopg.Error, reverse.ReverseError) as exc:
                failures.append(f"{label}: {exc}")
    return done, failures
