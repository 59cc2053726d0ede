"""Compare a target with the source: rows, content, sequences, enums, schema objects,
large objects."""

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager

from ansible_collections.yemma.dbsplit.plugins.module_utils import diff, fingerprint, pgconn
from ansible_collections.yemma.dbsplit.plugins.module_utils.target import judge


def planned_relations(target_plan):
    """Tables, what holds rows (leaf tables and materialized views), sequences and enum
    types of a plan target."""
    objects = target_plan["objects"].values()
    tables = [o["identity"] for o in objects if o["class"] == "pg_class" and o["kind"] in ("r", "p")]
    leaves = [o["identity"] for o in objects if o["class"] == "pg_class" and o["kind"] in ("r", "m")]
    sequences = [o["identity"] for o in objects if o["class"] == "pg_class" and o["kind"] == "S"]
    enums = [o["identity"] for o in objects if o["class"] == "pg_type" and o["kind"] == "e"]
    return sorted(tables), sorted(leaves), sorted(sequences), sorted(enums)


def placed_objects(target_plan):
    """The target's objects that an operator created and that are not tables (views,
    functions, types, sequences no column owns, schemas, extensions, publications...):
    [(type and identity, address)]. Tables and their parts are compared apart."""
    return sorted((f'{o["type"]} {o["identity"]}', o["address"]) for o in target_plan["objects"].values()
                  if o["top_level"] and o["type"] != "table")


VIEW_TYPES = ("view", "materialized view")


def object_differences(psycopg, src, dst, target_params, target_plan):
    """Each placed object exists in the target with the source's definition. A view's text
    is compared as the target's server prints it (view_as_printed_by): two major versions
    print one query differently."""
    differences = []
    for name, address in placed_objects(target_plan):
        expected = fingerprint.object_definition(psycopg, src, address)
        found = fingerprint.object_definition(psycopg, dst, address)
        if found is not None and found != expected and address[0] in VIEW_TYPES:
            expected = view_as_printed_by(psycopg, target_params, expected)
        if found is None:
            differences.append(f"{name} is missing")
        elif found != expected:
            differences.append(f"{name} differs: source {expected!r}, target {found!r}")
    return differences


def view_as_printed_by(psycopg, params, definition):
    """A view's query as the server of ``params`` prints it: created there as a temporary
    view in a transaction that is rolled back (PostgreSQL 16 prints a one-table query's
    columns without the table's name, 15 with it). A query that server cannot take is
    returned with the reason, which then differs from anything it holds."""
    with pgconn.connect(psycopg, params, autocommit=False) as conn:
        try:
            conn.execute(f"CREATE TEMPORARY VIEW dbsplit_view_as_printed AS {definition.strip().rstrip(';')}")
            return conn.execute("SELECT pg_get_viewdef('pg_temp.dbsplit_view_as_printed'::regclass)").fetchone()[0]
        except psycopg.Error as exc:
            return f"{definition} (which this server refuses: {str(exc).strip()})"
        finally:
            conn.rollback()


def split_restored(psycopg, targets):
    """(the targets this tool restored, labels of the others: empty, half restored, returned, or
    not created yet: the transfer restores them), from each one's marker (module_utils/target)."""
    restored, others = [], []
    for spec in targets:
        if judge(psycopg, spec["endpoint"], "", None)["state"] in ("restored", "live"):
            restored.append(spec)
        else:
            others.append(spec["plan"]["label"])
    return restored, others


def use_snapshot(conn, snapshot):
    """Make ``conn`` see what the session that exported ``snapshot`` sees (pg_export_snapshot):
    every table of one side is read as of the same instant, whatever writes follow."""
    if snapshot:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")


def measure_table(psycopg, params, snapshot, qname, matview_as_query=False):
    """Rows, checksum, size and seconds of one table on one side (as ``snapshot`` sees it);
    ``matview_as_query``: see fingerprint.table_fingerprint."""
    started = time.monotonic()
    with pgconn.connect(psycopg, params) as conn:
        use_snapshot(conn, snapshot)
        figures = fingerprint.table_fingerprint(conn, qname, matview_as_query)
        figures["bytes"] = fingerprint.table_bytes(conn, qname)
    figures["seconds"] = round(time.monotonic() - started, 2)
    return figures


@contextmanager
def both_sides(psycopg, source_params, target_params, snapshots):
    """Connections to both sides, each reading as its snapshot of ``snapshots`` ({"source",
    "target"}) sees it, else in one repeatable read transaction of its own."""
    with pgconn.connect(psycopg, source_params) as src, pgconn.connect(psycopg, target_params) as dst:
        for conn, snapshot in ((src, snapshots.get("source")), (dst, snapshots.get("target"))):
            if snapshot:
                use_snapshot(conn, snapshot)
            else:
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield src, dst


def localise_table(psycopg, source_params, target_params, snapshots, qname, rows, sample, remember=0):
    """Which rows of ``qname`` differ (diff.localise), read as ``snapshots`` see both sides."""
    with both_sides(psycopg, source_params, target_params, snapshots) as (src, dst):
        return diff.localise(src, dst, qname, rows, sample, remember)


def recheck_table(psycopg, source_params, target_params, snapshots, qname, earlier, sample):
    """Which of the rows ``earlier`` found differing still differ (diff.recheck), read as
    ``snapshots`` (later ones) see both sides."""
    with both_sides(psycopg, source_params, target_params, snapshots) as (src, dst):
        return diff.recheck(src, dst, qname, earlier, sample)


def catalog_differences(psycopg, source_params, target_params, target_plan, snapshots):
    """What is not rows: each table's schema, the sequences, enums, placed objects and large
    objects. Sequences, which no snapshot covers, are left to the online cutover, which carries
    them and reads them back before any service starts."""
    tables, _leaves, sequences, enums = planned_relations(target_plan)
    dropped = {}
    for fk in target_plan["dropped_foreign_keys"]:
        dropped.setdefault(fk["table"], set()).add(fk["constraint"])
    differences = []
    with pgconn.connect(psycopg, source_params) as src, pgconn.connect(psycopg, target_params) as dst:
        use_snapshot(src, snapshots.get("source"))
        use_snapshot(dst, snapshots.get("target"))
        if snapshots:
            sequences = []
        for qname in tables:
            for diff in fingerprint.compare_schema(fingerprint.schema_objects(src, qname),
                                                   fingerprint.schema_objects(dst, qname),
                                                   dropped.get(qname, set())):
                differences.append(f"{qname}: {diff}")
        for qname in sequences:
            a, b = fingerprint.sequence_state(src, qname), fingerprint.sequence_state(dst, qname)
            if a != b:
                differences.append(f"sequence {qname}: source {a}, target {b}")
        for qname in enums:
            a, b = fingerprint.enum_labels(src, qname), fingerprint.enum_labels(dst, qname)
            if a != b:
                differences.append(f"enum {qname}: source labels {a}, target {b}")
        differences += object_differences(psycopg, src, dst, target_params, target_plan)
        differences += large_object_differences(src, dst, target_plan.get("large_objects"))
    return differences


# How each side's materialized views are read, (source, target): the target's were refreshed
# from its rows (pg_restore's MATERIALIZED VIEW DATA, online mode's switch) and are compared
# with what the view's query gives on the source, whose last refresh may be older (the
# services refresh when they choose). A rollback reads both by their query: the monolith's
# keep their last refresh, as the services left them.
MATVIEWS_REFRESHED_ON_TARGET = ("query", "stored")
MATVIEWS_BY_QUERY = ("query", "query")
# verify.yml leaves their rows out: what a view's query gives follows from its tables' rows, which
# it compares, and from its definition, which it compares too; what each side stored is as old as
# its last refresh, the services' affair.
MATVIEWS_LEFT_OUT = ("left out", "left out")


# Rows of a table a comparison at a live point remembers to read them again (a table with more
# differing rows is reported as found: more than writes in flight).
RECHECK_ROWS = 100000


def compare(psycopg, source_params, targets, jobs, snapshots=None, excused=(), matviews=MATVIEWS_REFRESHED_ON_TARGET,
            sample_keys=0, progress=None, recheck=None, left_out=()):
    """Compare every target with the source; reads only. ``targets``: [{plan, endpoint}].
    Return ({target key: per-table figures}, differences, each naming its target's label); a
    target that cannot be read counts as a difference. One pool of ``jobs`` connections scans
    both sides of every table of every target (the servers do the work, so the pool keeps
    them all busy, largest tables first, instead of waiting on one target's last table), and
    compares each target's catalog. ``snapshots``: {"source": name, target key: name},
    exported at the online cutover: every read then sees that instant. ``excused``: [{target,
    table}] whose rows may differ (a rollback after the cutover's proof found them different:
    that difference is why it goes back); their figures are still returned. ``matviews``: how
    each side's materialized views are read (MATVIEWS_*; MATVIEWS_LEFT_OUT: not at all). ``sample_keys``: above 0, the rows of
    each table that differs are then localised (module_utils/diff.py): its figures get
    ``rows_differing`` and its difference names up to that many keys of each kind.
    ``progress``: a Progress, told of each table once both its sides are read. ``recheck``:
    called with {(target key, table): localisation} (each remembering up to RECHECK_ROWS rows),
    returns them read again at a later instant (audit: sides that a live stream joins).
    ``left_out``: {(target key, table)} not compared (audit: an online copy not done yet)."""
    excused = {(item["target"], item["table"]) for item in excused}
    snapshots = snapshots or {}
    leaves = [(target, qname) for target in targets for qname in planned_relations(target["plan"])[1]
              if (matviews != MATVIEWS_LEFT_OUT or tables_of_rows(target["plan"], qname))
              and (target["plan"]["key"], qname) not in left_out]
    sizes = relation_sizes(psycopg, source_params, [qname for _target, qname in leaves])
    scans, catalogs, localised = {}, {}, {}
    if progress:
        progress.start(len(leaves), sum(sizes[qname] for _target, qname in leaves))
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for target, qname in sorted(leaves, key=lambda leaf: -sizes[leaf[1]]):
            key = target["plan"]["key"]
            scans[(key, qname)] = (pool.submit(measure_table, psycopg, source_params, snapshots.get("source"), qname,
                                               matviews[0] == "query"),
                                   pool.submit(measure_table, psycopg, target["endpoint"], snapshots.get(key), qname,
                                               matviews[1] == "query"))
            if progress:
                progress.watch(scans[(key, qname)], sizes[qname])
        for target in targets:
            key = target["plan"]["key"]
            catalogs[key] = pool.submit(catalog_differences, psycopg, source_params, target["endpoint"], target["plan"],
                                        {"source": snapshots.get("source"), "target": snapshots.get(key)}
                                        if snapshots else {})
        for target, qname in leaves if sample_keys else ():
            key = target["plan"]["key"]
            src, dst = (future.exception() or future.result() for future in scans[(key, qname)])
            if (key, qname) in excused or not tables_of_rows(target["plan"], qname) or isinstance(src, Exception) \
                    or isinstance(dst, Exception) or (src["rows"], src["checksum"]) == (dst["rows"], dst["checksum"]):
                continue
            localised[(key, qname)] = pool.submit(localise_table, psycopg, source_params, target["endpoint"],
                                                  {"source": snapshots.get("source"), "target": snapshots.get(key)},
                                                  qname, max(src["rows"], dst["rows"]), sample_keys,
                                                  RECHECK_ROWS if recheck else 0)
    localised = {place: rows_differing(psycopg, future) for place, future in localised.items()}
    if recheck:
        localised = recheck(localised)
    proven, differences = {}, []
    for target in targets:
        plan = target["plan"]
        try:
            tables, found = table_differences(plan, {q: (s.result(), d.result()) for (k, q), (s, d) in scans.items()
                                                     if k == plan["key"]},
                                              {table for key, table in excused if key == plan["key"]},
                                              {q: rows for (k, q), rows in localised.items() if k == plan["key"]})
            found += catalogs[plan["key"]].result()
        except psycopg.Error as exc:
            tables, found = [], [f"cannot compare it: {exc}".strip()]
        proven[plan["key"]] = tables
        differences += [f"{plan['label']}: {difference}" for difference in found]
    return proven, differences


def tables_of_rows(target_plan, qname):
    """Whether ``qname`` is a table (a materialized view's rows come from its tables: those are
    the ones to localise)."""
    return any(o["identity"] == qname and o["kind"] == "r" for o in target_plan["objects"].values()
               if o["class"] == "pg_class")


def rows_differing(psycopg, future):
    """A localisation's result, or why it could not be made (the difference stands all the same)."""
    try:
        return future.result()
    except psycopg.Error as exc:
        return {"error": f"cannot name its rows: {str(exc).strip()}"}


def describe(psycopg, source_params, targets):
    """What verify.yml's comparison would read, reading no row: per target its label, tables (not
    materialized views: MATVIEWS_LEFT_OUT) and the source's bytes of them."""
    leaves = {target["plan"]["key"]: [qname for qname in planned_relations(target["plan"])[1]
                                      if tables_of_rows(target["plan"], qname)] for target in targets}
    sizes = relation_sizes(psycopg, source_params, [qname for qnames in leaves.values() for qname in qnames])
    return [{"label": target["plan"]["label"], "tables": len(leaves[target["plan"]["key"]]),
             "bytes": sum(sizes[qname] for qname in leaves[target["plan"]["key"]])} for target in targets]


def relation_sizes(psycopg, params, qnames):
    """{table: bytes on disk} of the source's tables, to scan the largest first."""
    with pgconn.connect(psycopg, params) as conn:
        return dict(conn.execute("SELECT q, pg_relation_size(q::regclass) FROM unnest(%s::text[]) AS q",
                                 (sorted(qnames),)).fetchall())


def table_differences(target_plan, measured, excused=(), localised=None):
    """Per-table figures and differences from ``measured``: {table: (source, target)}; a table of
    ``excused`` differs without it being a difference. ``localised``: {table: which rows differ
    (diff.localise)}, added to its figures as ``rows_differing`` and to its difference."""
    localised = localised or {}
    differences, figures = [], []
    for qname in sorted(measured):
        src, dst = measured[qname]
        rows = localised.get(qname)
        detail = ""
        if rows:
            detail = "; " + (rows["error"] if "error" in rows else diff.summary(rows))
            if rows.get("settled"):
                detail += f" (read again at a later instant: {rows['settled']} more had been written in flight, and agreed)"
        if qname in excused or (rows and "settled" in rows and not any(rows["counts"].values())):
            pass
        elif src["rows"] != dst["rows"]:
            differences.append(f"{qname}: {src['rows']} rows in the source, {dst['rows']} in the target{detail}")
        elif src["checksum"] != dst["checksum"]:
            differences.append(f"{qname}: same row count ({src['rows']}) but different content{detail}")
        figures.append({"table": qname, "rows": dst["rows"], "source_rows": src["rows"],
                        "checksum": dst["checksum"], "source_checksum": src["checksum"],
                        "bytes": dst["bytes"], "seconds": max(src["seconds"], dst["seconds"]),
                        **({"rows_differing": {k: v for k, v in rows.items() if k != "recheck"}} if rows else {})})
    return figures, differences


def differing_tables(proven):
    """[{target, table}] of the tables whose figures (from ``compare``) differ between the sides."""
    return [{"target": key, "table": figures["table"]} for key, tables in sorted(proven.items()) for figures in tables
            if figures["rows"] != figures["source_rows"] or figures["checksum"] != figures["source_checksum"]]


class Progress:
    """Tables and bytes compared of the total, and the time left at the rate so far, written to
    ``path`` (JSON with its ``line``) each time a table's two sides are read: what the
    dbsplit_progress module shows while dbsplit_verify runs in the background."""

    def __init__(self, path):
        self.path = path
        self.tables = self.bytes = self.done_tables = self.done_bytes = 0
        self.started = time.monotonic()
        self.lock = threading.Lock()

    def start(self, tables, total_bytes):
        self.tables, self.bytes = tables, total_bytes
        self.write()

    def watch(self, futures, size):
        """Count ``size`` bytes done once every future of ``futures`` is."""
        pending = [len(futures)]

        def one_done(_future):
            with self.lock:
                pending[0] -= 1
                if pending[0] == 0:
                    self.done_tables += 1
                    self.done_bytes += size
                    self.write()
        for future in futures:
            future.add_done_callback(one_done)

    def line(self):
        elapsed = time.monotonic() - self.started
        said = (f"{self.done_tables} of {self.tables} tables compared ({_mb(self.done_bytes)} of {_mb(self.bytes)} MB), "
                f"{elapsed:.0f} s")
        if 0 < self.done_bytes < self.bytes:
            said += f", about {elapsed * (self.bytes - self.done_bytes) / self.done_bytes:.0f} s left"
        return said

    def write(self):
        state = {"tables": self.tables, "tables_done": self.done_tables, "bytes": self.bytes,
                 "bytes_done": self.done_bytes, "line": self.line()}
        with open(self.path + ".tmp", "w") as out:
            json.dump(state, out)
        os.replace(self.path + ".tmp", self.path)


def _mb(size):
    return round(size / 1048576, 1)


class StreamError(Exception):
    """A stream that does not reach the position the comparison waits for."""


SLOT_APPLIED_SQL = """
SELECT confirmed_flush_lsn >= %s::pg_lsn, pg_wal_lsn_diff(%s::pg_lsn, confirmed_flush_lsn)::bigint, active
FROM pg_replication_slots WHERE slot_name = %s
"""


def wait_stream(publisher, slot, goal, timeout, poll=0.2):
    """Wait, only reading, until the subscriber of ``slot`` (on ``publisher``) applied every
    change up to ``goal`` (a WAL position). Returns the seconds waited."""
    started = time.monotonic()
    while True:
        row = publisher.execute(SLOT_APPLIED_SQL, (goal, goal, slot)).fetchone()
        if row is None:
            raise StreamError(f"the stream {slot} is gone (no slot on its publisher): the sides cannot be read at one "
                              "instant; migrate.yml --check says where the migration stands")
        if row[0]:
            return round(time.monotonic() - started, 2)
        if time.monotonic() - started > timeout:
            raise StreamError(f"the stream {slot} has not applied its publisher's writes up to {goal} after {timeout} s "
                              f"({row[1]} bytes behind, subscriber {'connected' if row[2] else 'NOT connected'}): "
                              "the comparison needs it caught up; migrate.yml --check shows each stream")
        time.sleep(poll)


def export_position(conn):
    """A snapshot held by ``conn`` and the WAL position every transaction it sees committed before."""
    snapshot = export_snapshot(conn)
    return snapshot, conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0]


def consistent_snapshots(psycopg, held, source, targets, point, timeout, slot_name):
    """Snapshots of the source and of every target at ``point`` (audit.CONSISTENT_POINTS but
    quiet), their sessions entered in the ExitStack ``held``: {"source": name, target key: name,
    "waited": seconds the streams took to catch up}. ``slot_name(target plan)``: the slot of
    that target's stream."""
    def hold(params):
        return held.enter_context(pgconn.connect(psycopg, params))

    waited = 0.0
    snapshots = {}
    if point == "online_copy":
        snapshots["source"], goal = export_position(hold(source))
        with pgconn.connect(psycopg, source) as publisher:
            for target in targets:
                waited += wait_stream(publisher, slot_name(target["plan"]), goal, timeout)
    if point == "reverse_stream":
        for target in targets:
            snapshots[target["plan"]["key"]], goal = export_position(hold(target["endpoint"]))
            with pgconn.connect(psycopg, target["endpoint"]) as publisher:
                waited += wait_stream(publisher, slot_name(target["plan"]), goal, timeout)
    for target in targets:
        snapshots.setdefault(target["plan"]["key"], export_snapshot(hold(target["endpoint"])))
    snapshots.setdefault("source", export_snapshot(hold(source)))
    snapshots["waited"] = round(waited, 2)
    return snapshots


def export_snapshot(conn):
    """Open a transaction that holds a snapshot, and return its name (pg_export_snapshot)."""
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    return conn.execute("SELECT pg_export_snapshot()").fetchone()[0]


def prove_on_snapshots(psycopg, source, targets, jobs, ready_file, before_scan=None, sample_keys=0):
    """Online mode's proof: take a snapshot of the source and of every target now (sessions
    held open until the end), say so in ``ready_file`` (if given), then compare every target with the
    source as those snapshots see them, while the new services already write. ``targets``:
    [{plan, endpoint}]. ``before_scan``: called once the snapshots are held, before the scans
    (the cutover lets the new services start first: the scans would slow their start). Returns
    ({target key: per-table figures}, [differences, each naming its target]); a target that
    cannot be compared counts as a difference. ``sample_keys``: see compare."""
    with ExitStack() as held:
        snapshots = consistent_snapshots(psycopg, held, source, targets, "snapshots", 0, None)
        snapshots.pop("waited")
        if ready_file:
            with open(ready_file + ".tmp", "w") as ready:
                json.dump({"snapshots": snapshots, "at": time.time()}, ready)
            os.rename(ready_file + ".tmp", ready_file)
        if before_scan:
            before_scan()
        return compare(psycopg, source, targets, jobs, snapshots, sample_keys=sample_keys)


def large_object_differences(src, dst, planned):
    """The target that receives the large objects holds the source's, the others none."""
    if not planned:
        count = fingerprint.large_object_count(dst)
        if count:
            return [f"large objects: {count} in the target, to which the plan gives none "
                    "(they go to the service of dbsplit_large_objects_service, if the source has any)"]
        return []
    from_pages = fingerprint.reads_large_object_pages(src) and fingerprint.reads_large_object_pages(dst)
    a = fingerprint.large_objects_fingerprint(src, from_pages)
    b = fingerprint.large_objects_fingerprint(dst, from_pages)
    if a["count"] != b["count"]:
        return [f"large objects: {a['count']} in the source, {b['count']} in the target"]
    if a["checksum"] != b["checksum"]:
        return [f"large objects: same count ({a['count']}) but different content"]
    return []


def proof_gaps(plan, backup_id, proof):
    """What the recorded proof (the verify phase's result) does not cover of the plan about to
    be cut over: another plan or backup, a target or a table never compared. Empty means every
    row of every target was proven equal to the source."""
    proof = proof or {}
    if proof.get("plan_hash") != plan["hash"] or proof.get("backup_id") != backup_id:
        return [f"the proof on record was made for plan {proof.get('plan_hash')} and backup {proof.get('backup_id')}, "
                f"not for plan {plan['hash']} and backup {backup_id}"]
    gaps = []
    verified = proof.get("tables", {})
    for target in plan["targets"]:
        if target["key"] not in verified:
            gaps.append(f"target {target['label']} was never verified")
            continue
        compared = {figures["table"] for figures in verified[target["key"]]}
        missing = sorted(set(planned_relations(target)[1]) - compared)
        if missing:
            gaps.append(f"target {target['label']}: tables {', '.join(missing)} were never compared")
    return gaps
