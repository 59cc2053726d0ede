"""Online mode: the bulk copy while the old services keep serving on the monolith (Vitess
MoveTables, pgcopydb --follow), with PostgreSQL's logical replication.

The transfer restores each target's schema from the backup (what its tables need, as in
offline mode) without the moved tables' rows; then the monolith publishes that target's tables
(one publication a target, named like the subscription) and the target subscribes with
``copy_data = true``: its table-sync workers copy every table, then the stream applies the
changes the old services keep making. The cutover stops the services, freezes the monolith,
waits until each target applied everything up to the freeze (``reverse.wait_applied``, the same
wait as the reverse stream's, the other way round), carries the sequences and large objects,
and removes the subscription and the publication before the reverse stream starts: two
subscriptions in opposite directions would send every change back and forth.

Schema changes are not streamed: a column added on the monolith during the copy makes the
target's apply fail on the first row that has it. ``schema_changes`` compares each published
table's columns, indexes, constraints and triggers on both sides before the cutover.
"""

import time

from ansible_collections.yemma.dbsplit.plugins.module_utils import fingerprint, reverse
from ansible_collections.yemma.dbsplit.plugins.module_utils.pgconn import quote_ident

DIRECTION = "online"
APPLICATION = "dbsplit-online"
# Slots a subscription takes on the monolith's server: its own and one per table-sync worker
# (max_sync_workers_per_subscription, 2 by default on the targets).
SLOTS_PER_TARGET = 3


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
STARTED = "dbsplit online copy started at "


def note_start(target, name):
    """When the copy began, kept with the subscription (a resumed run's time left counts from it)."""
    target.execute(f"COMMENT ON SUBSCRIPTION {quote_ident(name)} IS '{STARTED}{time.time():.0f}'")


def started_at(target, name):
    row = target.execute("SELECT obj_description(oid, 'pg_subscription') FROM pg_subscription WHERE subname = %s",
                         (name,)).fetchone()
    if row and row[0] and row[0].startswith(STARTED):
        return float(row[0][len(STARTED):])
    return None


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


def _size(count):
    for unit in ("bytes", "kB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return str(count)


def _duration(seconds):
    seconds = int(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def progress_line(label, progress, lag, started_at, now=None):
    """One line for the operator: tables copied, bytes done of total, time left at the rate
    so far, the tables being copied with their rows, and the stream's lag once copied."""
    now = time.time() if now is None else now
    done, total = progress["bytes_done"], progress["bytes"]
    line = f"{label}: {progress['copied']}/{progress['count']} tables copied, {_size(done)} of {_size(total)}"
    if progress["copied"] < progress["count"]:
        elapsed = max(now - started_at, 1.0)
        line += f" ({100 * done // max(total, 1)}%)"
        if done:
            line += f", about {_duration((total - done) * elapsed / done)} left"
        copying = [f"{f['table']} {f['rows_done']:,} of ~{f['rows']:,} rows" for f in progress["tables"]
                   if f["state"] in ("d", "f")]
        if copying:
            line += "; copying " + ", ".join(copying)
    else:
        seconds = lag.get("lag_seconds")
        line += f"; streaming, lag {_size(lag.get('lag_bytes') or 0)}" + (f", {seconds} s" if seconds is not None else "")
    return line


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
