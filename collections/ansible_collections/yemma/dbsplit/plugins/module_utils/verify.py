"""Compare a target with the source: rows, content, sequences, enums, schema objects,
large objects."""

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

from ansible_collections.yemma.dbsplit.plugins.module_utils import fingerprint, pgconn
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


def compare(psycopg, source_params, targets, jobs, snapshots=None, excused=(), matviews=MATVIEWS_REFRESHED_ON_TARGET):
    """Compare every target with the source; reads only. ``targets``: [{plan, endpoint}].
    Return ({target key: per-table figures}, differences, each naming its target's label); a
    target that cannot be read counts as a difference. One pool of ``jobs`` connections scans
    both sides of every table of every target (the servers do the work, so the pool keeps
    them all busy, largest tables first, instead of waiting on one target's last table), and
    compares each target's catalog. ``snapshots``: {"source": name, target key: name},
    exported at the online cutover: every read then sees that instant. ``excused``: [{target,
    table}] whose rows may differ (a rollback after the cutover's proof found them different:
    that difference is why it goes back); their figures are still returned. ``matviews``: how
    each side's materialized views are read (MATVIEWS_*)."""
    excused = {(item["target"], item["table"]) for item in excused}
    snapshots = snapshots or {}
    leaves = [(target, qname) for target in targets for qname in planned_relations(target["plan"])[1]]
    sizes = relation_sizes(psycopg, source_params, [qname for _target, qname in leaves])
    scans, catalogs = {}, {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for target, qname in sorted(leaves, key=lambda leaf: -sizes[leaf[1]]):
            key = target["plan"]["key"]
            scans[(key, qname)] = (pool.submit(measure_table, psycopg, source_params, snapshots.get("source"), qname,
                                               matviews[0] == "query"),
                                   pool.submit(measure_table, psycopg, target["endpoint"], snapshots.get(key), qname,
                                               matviews[1] == "query"))
        for target in targets:
            key = target["plan"]["key"]
            catalogs[key] = pool.submit(catalog_differences, psycopg, source_params, target["endpoint"], target["plan"],
                                        {"source": snapshots.get("source"), "target": snapshots.get(key)}
                                        if snapshots else {})
    proven, differences = {}, []
    for target in targets:
        plan = target["plan"]
        try:
            tables, found = table_differences(plan, {q: (s.result(), d.result()) for (k, q), (s, d) in scans.items()
                                                     if k == plan["key"]},
                                              {table for key, table in excused if key == plan["key"]})
            found += catalogs[plan["key"]].result()
        except psycopg.Error as exc:
            tables, found = [], [f"cannot compare it: {exc}".strip()]
        proven[plan["key"]] = tables
        differences += [f"{plan['label']}: {difference}" for difference in found]
    return proven, differences


def relation_sizes(psycopg, params, qnames):
    """{table: bytes on disk} of the source's tables, to scan the largest first."""
    with pgconn.connect(psycopg, params) as conn:
        return dict(conn.execute("SELECT q, pg_relation_size(q::regclass) FROM unnest(%s::text[]) AS q",
                                 (sorted(qnames),)).fetchall())


def table_differences(target_plan, measured, excused=()):
    """Per-table figures and differences from ``measured``: {table: (source, target)}; a table of
    ``excused`` differs without it being a difference."""
    differences, figures = [], []
    for qname in planned_relations(target_plan)[1]:
        src, dst = measured[qname]
        if qname in excused:
            pass
        elif src["rows"] != dst["rows"]:
            differences.append(f"{qname}: {src['rows']} rows in the source, {dst['rows']} in the target")
        elif src["checksum"] != dst["checksum"]:
            differences.append(f"{qname}: same row count ({src['rows']}) but different content")
        figures.append({"table": qname, "rows": dst["rows"], "source_rows": src["rows"],
                        "checksum": dst["checksum"], "source_checksum": src["checksum"],
                        "bytes": dst["bytes"], "seconds": max(src["seconds"], dst["seconds"])})
    return figures, differences


def differing_tables(proven):
    """[{target, table}] of the tables whose figures (from ``compare``) differ between the sides."""
    return [{"target": key, "table": figures["table"]} for key, tables in sorted(proven.items()) for figures in tables
            if figures["rows"] != figures["source_rows"] or figures["checksum"] != figures["source_checksum"]]


def export_snapshot(conn):
    """Open a transaction that holds a snapshot, and return its name (pg_export_snapshot)."""
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    return conn.execute("SELECT pg_export_snapshot()").fetchone()[0]


def prove_on_snapshots(psycopg, source, targets, jobs, ready_file, before_scan=None):
    """Online mode's proof: take a snapshot of the source and of every target now (sessions
    held open until the end), say so in ``ready_file`` (if given), then compare every target with the
    source as those snapshots see them, while the new services already write. ``targets``:
    [{plan, endpoint}]. ``before_scan``: called once the snapshots are held, before the scans
    (the cutover lets the new services start first: the scans would slow their start). Returns
    ({target key: per-table figures}, [differences, each naming its target]); a target that
    cannot be compared counts as a difference."""
    with ExitStack() as held:
        source_snapshot = export_snapshot(held.enter_context(pgconn.connect(psycopg, source)))
        snapshots = {target["plan"]["key"]: export_snapshot(held.enter_context(pgconn.connect(psycopg, target["endpoint"])))
                     for target in targets}
        if ready_file:
            with open(ready_file + ".tmp", "w") as ready:
                json.dump({"source": source_snapshot, "targets": snapshots, "at": time.time()}, ready)
            os.rename(ready_file + ".tmp", ready_file)
        snapshots["source"] = source_snapshot
        if before_scan:
            before_scan()
        return compare(psycopg, source, targets, jobs, snapshots)


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
