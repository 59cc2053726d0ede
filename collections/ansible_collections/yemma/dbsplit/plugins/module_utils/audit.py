"""verify.yml's comparison: the source and every target of the plan on record, at any time,
each side read at one instant, reading only.

Where the migration stands says how both sides are read at one instant (consistent_point):
  quiet           nothing writes to either side: read as they are
  snapshots       one snapshot of each side, taken together: no stream joins them (before the
                  cutover offline, after finish.yml, or without a reverse stream)
  reverse_stream  the services write to the new databases and each reverse stream carries their
                  writes to the monolith: each target's snapshot first, then the monolith's once
                  every stream applied what its target had committed at its snapshot
  online_copy     the monolith serves and streams to the targets (online mode before the
                  cutover): the monolith's snapshot first, then each target's once its copy
                  applied what the monolith had committed at that snapshot; a table whose
                  initial copy is not done is not compared (named)
Where a live stream joins the sides, the rows written between the two snapshots differ at that
instant: the rows found differing are read again at a second consistent point, and only those
that differ at both are reported.
"""

from contextlib import ExitStack

from ansible_collections.yemma.dbsplit.plugins.module_utils import online, pgconn, reverse, verify

CONSISTENT_POINTS = ("quiet", "snapshots", "reverse_stream", "online_copy")
LIVE_POINTS = ("reverse_stream", "online_copy")


def consistent_point(recorded):
    """Which of CONSISTENT_POINTS an audit of the migration recorded as ``recorded``
    (module_utils/machine.recorded) takes."""
    if recorded["reverse_live"]:
        return "reverse_stream"
    if recorded["stage"] == "migrating" and recorded.get("online_copy") is not None:
        return "online_copy"
    return "snapshots"


def slot_name(point):
    """The slot of a target's stream at ``point``: online mode's copy, or the reverse stream."""
    if point == "online_copy":
        return lambda plan: online.stream_name(plan["key"], plan["database"])
    return lambda plan: reverse.subscription_name(plan["key"], plan["database"])


def still_copying(psycopg, targets):
    """{(target key, table)} whose online copy is not done yet: its rows are still arriving."""
    copying = set()
    for target in targets:
        with pgconn.connect(psycopg, target["endpoint"]) as conn:
            name = online.stream_name(target["plan"]["key"], target["plan"]["database"])
            copying |= {(target["plan"]["key"], table) for table in online.tables_copying(conn, name)}
    return copying


def compare_at(psycopg, source, targets, jobs, point, timeout, sample_keys=0, progress=None):
    """Every target compared with the source, each side read at ``point`` (CONSISTENT_POINTS
    but quiet, which is verify.compare's plain reads). Returns (per-table
    figures, differences, seconds the streams took to catch up, tables left out because their
    online copy is not done: [{target, table}]), figures and differences as verify.compare."""
    live = point in LIVE_POINTS
    left_out = still_copying(psycopg, targets) if point == "online_copy" else set()
    waited = []

    def snapshots_now(held):
        snapshots = verify.consistent_snapshots(psycopg, held, source, targets, point, timeout, slot_name(point))
        waited.append(snapshots.pop("waited"))
        return snapshots

    def read_again(localised):
        pending = {place: rows for place, rows in localised.items() if rows.get("recheck")}
        if not pending:
            return localised
        endpoints = {target["plan"]["key"]: target["endpoint"] for target in targets}
        with ExitStack() as held:
            later = snapshots_now(held)
            for (key, qname), earlier in pending.items():
                localised[(key, qname)] = verify.recheck_table(psycopg, source, endpoints[key],
                                                               {"source": later["source"], "target": later[key]},
                                                               qname, earlier, sample_keys)
        return localised

    with ExitStack() as held:
        proven, differences = verify.compare(psycopg, source, targets, jobs, snapshots_now(held),
                                             matviews=verify.MATVIEWS_LEFT_OUT, sample_keys=sample_keys,
                                             progress=progress, recheck=read_again if live else None,
                                             left_out=left_out)
    return (proven, differences, round(sum(waited), 2),
            [{"target": key, "table": table} for key, table in sorted(left_out)])
