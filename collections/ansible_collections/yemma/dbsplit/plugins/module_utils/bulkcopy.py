"""Online mode's copy of the rows at the speed of the hardware, while the old services serve
on the monolith: the data first, the indexes after (pgcopydb's order), each target from one
consistent snapshot, large tables in parts at once, paced so the services keep their speed.

For each target the monolith publishes its tables, then a logical replication slot is created
with an exported snapshot (``CREATE_REPLICATION_SLOT ... EXPORT_SNAPSHOT`` on a replication
connection): the slot's stream begins exactly where that snapshot ends. Every table is read in
transactions that import the snapshot, ``COPY (SELECT ...) TO STDOUT`` streamed block by block
into ``COPY ... FROM STDIN`` (never held: a block is written as it arrives), in binary where
both servers run one major version and every column's type has binary I/O, into tables that
the schema restore made without indexes, constraints or triggers (restore part "before_rows"):
no row pays an index entry. A table larger than ``part_bytes`` is read in block ranges (``ctid``,
which PostgreSQL 14 and later scan as TID ranges) copied at once, from the one snapshot, each
row written once. At most ``jobs`` parts run at once, the largest first, and before each part
the copy waits while the host is loaded or a standby of the monolith lags (``pause_reason``).
Then the restore's part "after_rows" builds the indexes and constraints in parallel and
ANALYZEs the target, and the subscription is created on the slot (``copy_data = false``,
``create_slot = false``): it streams every change made since the snapshot.

Not the subscription's own initial copy: its table-sync workers copy one table each, into
tables whose indexes exist, in text below PostgreSQL 16, unpaced (at 5 GB, three to four
times the raw COPY limit).

The target's marker (module_utils/target) says "copying" from before its slot is created to
the end of its copy ("copied"): a run killed in between leaves it "copying", and the next run's
schema restore rebuilds it from empty; the copy then drops the old slot and starts again. The
copy runs as a background job, which outlives a killed run: its pid is kept in a file, and the
next run ends it (``stop_stale``) before it restores anything, so nothing writes into a target
being rebuilt.
"""

import contextlib
import os
import signal
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

from ansible_collections.yemma.dbsplit.plugins.module_utils import online, pgconn, reverse, target, verify
from ansible_collections.yemma.dbsplit.plugins.module_utils.pgconn import quote_ident

APPLICATION = "dbsplit-online-copy"
# TID range scans (PostgreSQL 14): a part of a table reads its blocks only; below, each part
# would read the whole table, so a table is one part there.
TID_RANGE_SCANS = 140000


# What the background job's command line holds (ansible-core's AnsiballZ_<module>.py).
MODULE = "dbsplit_online_bulk"


def stop_stale(pid_file, grace=30.0):
    """End the copy a killed run left running in the background, if any (its pid in
    ``pid_file``, its command line this module's): SIGTERM, then SIGKILL after ``grace``
    seconds; its sessions end with it. Returns its pid, or None when none was running."""
    try:
        with open(pid_file) as recorded:
            pid = int(recorded.read().strip())
    except (OSError, ValueError):
        return None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            ours = MODULE.encode() in cmdline.read() and pid != os.getpid()
    except OSError:
        ours = False
    if ours:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.1)
        if os.path.exists(f"/proc/{pid}"):
            os.kill(pid, signal.SIGKILL)
    os.remove(pid_file)
    return pid if ours else None


@contextlib.contextmanager
def pid_recorded(pid_file):
    """This process's pid in ``pid_file`` while the copy runs (stop_stale's evidence)."""
    with open(pid_file, "w") as recorded:
        recorded.write(str(os.getpid()))
    try:
        yield
    finally:
        os.remove(pid_file)


class CopyError(RuntimeError):
    """The copy cannot start or did not end; the message names the target and the table."""


def pause_reason(load_per_core, max_load_per_core, standby_lag, max_standby_lag):
    """Why the next part must wait (the host's 1-minute load per core above its limit, or a
    standby of the monolith replaying more than ``max_standby_lag`` seconds behind: Vitess's
    throttler waits on 1 s of lag), as (kind, words), or None. A limit of 0 is no limit."""
    if max_load_per_core and load_per_core > max_load_per_core:
        return "load", f"host load {load_per_core:.1f} per core > {max_load_per_core:g}"
    if max_standby_lag and standby_lag is not None and standby_lag > max_standby_lag:
        return "standby_lag", f"a standby of the monolith lags {standby_lag:.1f} s > {max_standby_lag:g} s"
    return None


def parts_of(tables, part_bytes, tid_ranges):
    """The parts each table is copied in: [{table, bytes, blocks: (first, end) or None}], end
    None for "to the last block" (rows the snapshot sees are in blocks that existed when the
    sizes were read, or before; the last part takes any block past them). ``tables``: [{table,
    bytes (heap and TOAST), blocks (the heap's)}]."""
    parts = []
    for table in tables:
        count = max(1, -(-table["bytes"] // part_bytes)) if tid_ranges and part_bytes else 1
        count = min(count, max(1, table["blocks"]))
        if count == 1:
            parts.append({"table": table["table"], "bytes": table["bytes"], "blocks": None})
            continue
        step = -(-table["blocks"] // count)
        for first in range(0, table["blocks"], step):
            end = first + step if first + step < table["blocks"] else None
            parts.append({"table": table["table"], "bytes": table["bytes"] * (min(first + step, table["blocks"]) - first)
                          // table["blocks"], "blocks": (first, end)})
    return parts


def in_order(parts_by_target):
    """Every target's parts in one queue, the largest first (the longest part starts first, so
    that the copy ends with small ones, every job busy): [(target key, part)]."""
    queue = [(key, part) for key, parts in parts_by_target.items() for part in parts]
    return sorted(queue, key=lambda item: (-item[1]["bytes"], item[0], item[1]["table"], item[1]["blocks"] or (0, 0)))


def block_filter(blocks):
    if blocks is None:
        return ""
    first, end = blocks
    where = f" WHERE ctid >= '({first},0)'::tid"
    return where + (f" AND ctid < '({end},0)'::tid" if end is not None else "")


STORED_TABLES_SQL = f"""
SELECT format('%%I.%%I', n.nspname, c.relname), pg_table_size(c.oid), pg_relation_size(c.oid) / current_setting('block_size')::int,
       (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) FROM pg_attribute a
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''),
       (SELECT coalesce(bool_and(t.typsend <> 0 AND t.typreceive <> 0 AND (e.oid IS NULL OR e.typsend <> 0 AND e.typreceive <> 0)), true)
        FROM pg_attribute a JOIN pg_type t ON t.oid = coalesce(nullif((SELECT typbasetype FROM pg_type WHERE oid = a.atttypid), 0), a.atttypid)
        LEFT JOIN pg_type e ON e.oid = nullif(t.typelem, 0) AND t.typcategory = 'A'
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid IN ({reverse.TABLES_WITH_PARTITIONS})
ORDER BY 1
"""


def stored_tables(monolith, tables):
    """The relations that hold the rows of ``tables`` (a partitioned table's partitions):
    [{table, bytes, blocks, columns (copied: no generated column), binary_io}]."""
    return [{"table": name, "bytes": size, "blocks": blocks, "columns": columns, "binary_io": binary_io}
            for name, size, blocks, columns, binary_io in monolith.execute(STORED_TABLES_SQL, {"tables": tables}).fetchall()]


def create_slot(psycopg, source, name):
    """A logical slot ``name`` on the monolith and the snapshot it exports: (the replication
    session, which must stay open and idle while transactions import the snapshot; the
    snapshot's name; the slot's consistent point)."""
    params = dict(pgconn.connection_params(source), application_name=APPLICATION)
    session = psycopg.connect(autocommit=True, replication="database", **params)
    # The replication protocol's commands take the simple query protocol only.
    result = session.pgconn.exec_(f"CREATE_REPLICATION_SLOT {quote_ident(name)} LOGICAL pgoutput EXPORT_SNAPSHOT".encode())
    if result.status != psycopg.pq.ExecStatus.TUPLES_OK:
        message = (result.error_message or b"").decode(errors="replace").strip()
        session.close()
        raise CopyError(f"cannot create slot {name} on the monolith: {message}")
    return session, result.get_value(0, 2).decode(), result.get_value(0, 1).decode()


# Bytes gathered before each write to the target (COPY hands one row at a time).
WRITE_CHUNK = 1 << 20


def copy_part(psycopg, source, endpoint, snapshot, table, part, binary, on_bytes):
    """One part of a table from the snapshot into the target, streamed; returns the rows written."""
    options = " (FORMAT binary)" if binary else ""
    columns = table["columns"]
    reading = f"COPY (SELECT {columns} FROM ONLY {table['table']}{block_filter(part['blocks'])}) TO STDOUT{options}"
    writing = f"COPY {table['table']} ({columns}) FROM STDIN{options}"
    with pgconn.connect(psycopg, source, autocommit=False) as monolith, pgconn.connect(psycopg, endpoint) as into:
        monolith.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        monolith.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        # A crash loses nothing: the target is "copying", and a run again rebuilds it.
        into.execute("SET synchronous_commit = off")
        rows = stream(psycopg, monolith.pgconn, into.pgconn, reading, writing, on_bytes)
        monolith.rollback()
    return rows


def _result(psycopg, conn, expected, doing):
    result = conn.get_result()
    if result is None or result.status != expected:
        message = (result.error_message if result is not None else conn.error_message) or b""
        raise CopyError(f"{doing}: {message.decode(errors='replace').strip()}")
    return result


def _server_said(psycopg, conn, exc):
    """The server's own message when it sent one (a row the target refused), else the client's."""
    try:
        result = conn.get_result()
    except psycopg.Error:
        result = None
    said = (result.error_message if result is not None else b"") or b""
    return said.decode(errors="replace").strip() or str(exc).strip()


def stream(psycopg, out, into, reading, writing, on_bytes):
    """``reading`` (COPY ... TO STDOUT) on libpq connection ``out`` streamed into ``writing``
    (COPY ... FROM STDIN) on ``into``, in chunks of WRITE_CHUNK bytes: libpq's own calls, a row
    at a time (the Copy object's per-row machinery costs twice the CPU, measured with Debian's
    psycopg). Returns the rows written. An error raises CopyError, saying which side and the
    server's message, and leaves both connections mid-COPY: close them (the target's COPY is
    then undone whole)."""
    status = psycopg.pq.ExecStatus
    out.send_query(reading.encode())
    _result(psycopg, out, status.COPY_OUT, "reading")
    into.send_query(writing.encode())
    _result(psycopg, into, status.COPY_IN, "writing")
    chunk, get, put = bytearray(), out.get_copy_data, into.put_copy_data

    def write(data):
        try:
            put(data)
        except psycopg.Error as exc:
            raise CopyError("writing: " + _server_said(psycopg, into, exc)) from None
        on_bytes(len(data))

    while True:
        try:
            size, data = get(0)
        except psycopg.Error as exc:
            raise CopyError("reading: " + _server_said(psycopg, out, exc)) from None
        if size < 0:
            break
        chunk += data
        if len(chunk) >= WRITE_CHUNK:
            write(chunk)
            chunk = bytearray()
    _result(psycopg, out, status.COMMAND_OK, "reading")
    if chunk:
        write(chunk)
    into.put_copy_end(None)
    rows = _result(psycopg, into, status.COMMAND_OK, "writing").command_tuples
    for conn in (out, into):
        while conn.get_result() is not None:
            pass
    return rows


class Pacer:
    """Waits before each part while pause_reason says so; counts the pauses and their seconds."""

    def __init__(self, psycopg, source, max_load_per_core, max_standby_lag, poll=1.0):
        self.psycopg, self.source, self.poll = psycopg, source, poll
        self.limits = (max_load_per_core, max_standby_lag)
        self.lock = threading.Lock()
        self.paused_seconds, self.pauses, self.reasons = 0.0, 0, {}

    def standby_lag(self):
        if not self.limits[1]:
            return None
        with pgconn.connect(self.psycopg, self.source) as monolith:
            return monolith.execute(
                "SELECT max(extract(epoch FROM coalesce(replay_lag, flush_lag, write_lag)))::float8 FROM pg_stat_replication "
                "WHERE application_name NOT LIKE 'dbsplit%%'").fetchone()[0]

    def wait_turn(self, stopped):
        paused = None
        while not stopped.is_set():
            reason = pause_reason(os.getloadavg()[0] / (os.cpu_count() or 1), self.limits[0], self.standby_lag(),
                                  self.limits[1])
            if reason is None:
                break
            if paused is None:
                paused = time.monotonic()
                with self.lock:
                    self.pauses += 1
                    kind, words = reason
                    self.reasons[kind] = words
            stopped.wait(self.poll)
        if paused is not None:
            with self.lock:
                self.paused_seconds += time.monotonic() - paused


class CopyProgress(verify.Progress):
    """Bytes copied of the total, the rate, the time left and the pauses, in the progress file."""

    def __init__(self, path, pacer):
        super().__init__(path)
        self.pacer, self.streamed = pacer, 0

    def write(self):
        if self.path:  # no file: the module runs in the foreground
            super().write()

    @contextlib.contextmanager
    def ticking(self, every=2.0):
        """The file rewritten every ``every`` seconds meanwhile (the rate, the time and the pauses
        move between two tables)."""
        stopped = threading.Event()

        def tick():
            while not stopped.wait(every):
                with self.lock:
                    self.write()
        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            yield self
        finally:
            stopped.set()
            ticker.join()

    def add_streamed(self, count):
        with self.lock:
            self.streamed += count

    def line(self):
        elapsed = max(time.monotonic() - self.started, 0.1)
        said = (f"{self.done_tables} of {self.tables} tables copied ({verify._mb(self.done_bytes)} of "
                f"{verify._mb(self.bytes)} MB, {verify._mb(self.streamed / elapsed)} MB/s streamed), {elapsed:.0f} s")
        if 0 < self.done_bytes < self.bytes:
            said += f", about {elapsed * (self.bytes - self.done_bytes) / self.done_bytes:.0f} s left"
        if self.pacer.pauses:
            said += f"; paused {self.pacer.pauses} time(s), {self.pacer.paused_seconds:.0f} s ({', '.join(self.pacer.reasons.values())})"
        return said


def judge(conn, tool, name):
    """What the copy does with a target: "copy" (its schema restored, no row yet), "done"
    (copied, or built and subscribed since), or raise CopyError with the fix."""
    info = target.inspect(conn, tool)
    if info["state"] in ("copied", "restored", "live"):
        return "done"
    if info["state"] == "schema":
        if conn.execute("SELECT count(*) FROM pg_subscription WHERE subname = %s", (name,)).fetchone()[0]:
            raise CopyError(f"holds subscription {name} but no copied rows: reset it with rollback.yml, then run migrate.yml")
        return "copy"
    raise CopyError(f"is {info['state']}, not a schema restored for the copy: run migrate.yml again (its transfer "
                    "restores the schema, rebuilding a target a killed run left half copied)")


def copy_all(psycopg, source, targets, full_identity, jobs, part_bytes, pacer, progress, check_mode):
    """Copy the rows of every target ([{plan, endpoint}]) whose schema is restored, as the module
    docstring says. Returns {target key: {label, action (copy or done), tables, parts, bytes,
    rows, format, seconds}}; raises CopyError naming what failed (the targets copied are
    marked "copied"; the others stay "copying": a run again rebuilds them)."""
    figures, due = {}, []
    with pgconn.connect(psycopg, source) as monolith:
        source_major = monolith.info.server_version // 10000
        tid_ranges = monolith.info.server_version >= TID_RANGE_SCANS
        for spec in targets:
            plan, endpoint = spec["plan"], spec["endpoint"]
            name = online.stream_name(plan["key"], plan["database"])
            tables = [t["name"] for t in plan["tables"]]
            with pgconn.connect(psycopg, endpoint) as conn:
                try:
                    action = judge(conn, endpoint["tool_name"], name)
                except CopyError as exc:
                    raise CopyError(f"{plan['label']} {exc}") from None
                same_major = conn.info.server_version // 10000 == source_major
            problems = reverse.identity_problems(monolith, tables, [t for t in full_identity if t in tables])
            if problems:
                raise CopyError("the monolith cannot publish every table of " + plan["label"] + ": " + "; ".join(problems))
            stored = stored_tables(monolith, tables)
            binary = same_major and all(t["binary_io"] for t in stored)
            parts = parts_of(stored, part_bytes, tid_ranges)
            figures[plan["key"]] = {"label": plan["label"], "action": action, "tables": len(stored), "parts": len(parts),
                                    "bytes": sum(t["bytes"] for t in stored), "rows": 0,
                                    "format": "binary" if binary else "text", "seconds": 0.0}
            if action == "copy":
                due.append({"spec": spec, "name": name, "tables": {t["table"]: t for t in stored}, "parts": parts,
                            "binary": binary})
    if check_mode or not due:
        return figures
    return _copy(psycopg, source, due, full_identity, jobs, pacer, progress, figures)


def _copy(psycopg, source, due, full_identity, jobs, pacer, progress, figures):
    """Publish, create each slot and its snapshot, then copy every part (``_copy_parts``); the
    replication sessions stay open (their snapshots importable) until the copy ends."""
    sessions, snapshots = {}, {}
    try:
        with pgconn.connect(psycopg, source) as monolith:
            for item in due:
                plan, endpoint, name = item["spec"]["plan"], item["spec"]["endpoint"], item["name"]
                tables = [t["name"] for t in plan["tables"]]
                with pgconn.connect(psycopg, endpoint) as conn:
                    target.restate(conn, endpoint["tool_name"], "copying")
                # The publication first: the slot's stream filters by it from its first change.
                reverse.publish(monolith, tables, [t for t in full_identity if t in tables], False, publication=name)
                drop_stale_slot(monolith, name)
                sessions[plan["key"]], snapshots[plan["key"]], _lsn = create_slot(psycopg, source, name)
        return _copy_parts(psycopg, source, due, jobs, pacer, progress, figures, snapshots)
    finally:
        for session in sessions.values():
            session.close()


def drop_stale_slot(monolith, name):
    """A slot a killed copy left (its target was rebuilt since): dropped, the copy starts again from now."""
    slot = monolith.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (name,)).fetchone()
    if slot:
        if slot[0]:
            raise CopyError(f"slot {name} on the monolith is in use: another copy runs, or a subscription uses it")
        monolith.execute("SELECT pg_drop_replication_slot(%s)", (name,))


def _copy_parts(psycopg, source, due, jobs, pacer, progress, figures, snapshots):
    """Every part of every due target, ``jobs`` at once, the largest first, each paced."""
    by_key = {item["spec"]["plan"]["key"]: item for item in due}
    queue = in_order({key: item["parts"] for key, item in by_key.items()})
    stopped, started = threading.Event(), time.monotonic()
    rows, remaining = {key: 0 for key in by_key}, {key: len(item["parts"]) for key, item in by_key.items()}
    lock = threading.Lock()

    def target_copied(key):
        """Its last part written: marked "copied" at once (a run killed later keeps it)."""
        endpoint = by_key[key]["spec"]["endpoint"]
        with pgconn.connect(psycopg, endpoint) as conn:
            target.restate(conn, endpoint["tool_name"], "copied")
        figures[key].update(rows=rows[key], seconds=round(time.monotonic() - started, 1))

    def one(key, part):
        pacer.wait_turn(stopped)
        if stopped.is_set():
            return 0
        item = by_key[key]
        table = item["tables"][part["table"]]
        try:
            written = copy_part(psycopg, source, item["spec"]["endpoint"], snapshots[key], table, part, item["binary"],
                                progress.add_streamed)
        except (psycopg.Error, OSError, CopyError) as exc:
            stopped.set()
            raise CopyError(f"{item['spec']['plan']['label']}: copying {part['table']}"
                            + (f" (blocks {part['blocks'][0]} on)" if part["blocks"] else "") + f": {str(exc).strip()}") from None
        with lock:
            rows[key] += written
            remaining[key] -= 1
            last = remaining[key] == 0
        if last:
            target_copied(key)
        return written

    progress.start(sum(len(item["tables"]) for item in due), sum(figures[key]["bytes"] for key in by_key))
    with progress.ticking(), ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {(key, part["table"], part["blocks"]): pool.submit(one, key, part) for key, part in queue}
        for key, item in by_key.items():
            for table in item["tables"].values():
                progress.watch([f for (k, name, _b), f in futures.items() if k == key and name == table["table"]],
                               table["bytes"])
        finished, _pending = wait(futures.values(), return_when=FIRST_EXCEPTION)
        failed = [future.exception() for future in finished if future.exception() is not None]
        if failed:
            stopped.set()
            for future in futures.values():
                future.cancel()
            raise CopyError(str(failed[0]))
    return figures
