"""What a service database holds, for an installation and a reset: which of the map's tables
exist, which tables hold rows, what its Alembic version table says, and how its tables
compare with the monolith a reset would restore them from.

Read only. The runbook's trap lives here: a ``stamp head`` on an empty database leaves
Alembic "at head" with no table, and every later ``upgrade head`` does nothing.
"""

from ansible_collections.yemma.dbsplit.plugins.module_utils import fingerprint
from ansible_collections.yemma.dbsplit.plugins.module_utils.pgconn import quote_ident
from ansible_collections.yemma.dbsplit.plugins.module_utils.plan import parse_qualified, target_key


def regclass_texts(name):
    """The spellings of a map's table name that to_regclass may resolve: as SQL
    (``public."Person"``, ``users``) and as stored (``Person`` in public)."""
    texts = []
    parts = parse_qualified(name)
    if parts and len(parts) <= 2:
        texts.append(".".join(quote_ident(p) for p in ["public"] * (2 - len(parts)) + parts))
    schema, dot, table = name.partition(".")
    texts.append(".".join(quote_ident(p) for p in ((schema, table) if dot else ("public", name))))
    return list(dict.fromkeys(texts))


def find_table(conn, name):
    """The table ``name`` (as the map writes it) as PostgreSQL prints it, or None."""
    with conn.cursor() as cur:
        for text in regclass_texts(name):
            cur.execute("SELECT c.oid::regclass::text FROM pg_class c "
                        "WHERE c.oid = to_regclass(%s) AND c.relkind IN ('r', 'p')", (text,))
            row = cur.fetchone()
            if row:
                return row[0]
    return None


TABLES_WITH_ROWS_SQL = """
SELECT c.oid::regclass::text, c.reltuples
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'
ORDER BY 1
"""


def tables_with_rows(conn, ignored=()):
    """[{table, rows}] of every user table holding at least one row (rows: the planner's
    estimate, at least 1), but the ``ignored`` ones (Alembic's version tables)."""
    found = []
    with conn.cursor() as cur:
        cur.execute(TABLES_WITH_ROWS_SQL)
        for table, estimate in cur.fetchall():
            if table in ignored:
                continue
            cur.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")
            if cur.fetchone()[0]:
                found.append({"table": table, "rows": max(1, int(estimate))})
    return found


def alembic_versions(conn, version_table):
    """The revisions in ``version_table``, or None when the table does not exist."""
    table = find_table(conn, version_table)
    if table is None:
        return None
    with conn.cursor() as cur:
        cur.execute(f"SELECT version_num FROM {table} ORDER BY 1")
        return [row[0] for row in cur.fetchall()]


def service_state(conn, name, spec):
    """{service, tables, missing, alembic} of one service of the map on its database."""
    found = {table: find_table(conn, table) for table in spec["tables"]}
    version_table = (spec.get("alembic") or {}).get("version_table")
    return {"service": name,
            "tables": sorted(t for t in found.values() if t),
            "missing": [t for t, where in found.items() if where is None],
            "version_table": version_table,
            "alembic": alembic_versions(conn, version_table) if version_table else None}


def stamped_without_schema(state):
    """Whether Alembic says a revision is applied while tables of the service are missing."""
    return bool(state["alembic"]) and bool(state["missing"])


def problems(label, states, data, keep_data, reset_command):
    """What stops an installation on one database, each with its fix."""
    found = []
    for state in states:
        if stamped_without_schema(state):
            found.append(f"{label}: Alembic of {state['service']} records revision {', '.join(state['alembic'])} in "
                         f"{state['version_table']}, but its tables {', '.join(state['missing'])} do not exist (a "
                         f"`stamp head` on an empty database, so `upgrade head` creates nothing): repair it with "
                         f"{reset_command.format(service=state['service'])}")
    if data and not keep_data:
        shown = ", ".join(f"{d['table']} (~{d['rows']} rows)" for d in data[:5])
        found.append(f"{label} already holds data: {shown}{' and ' + str(len(data) - 5) + ' more' if len(data) > 5 else ''}."
                     " An installation starts from empty databases: if this data is the platform's, it is migrated "
                     "(migrate.yml) or kept as it is with -e install_keep_data=true (only what is missing is created)")
    return found


def table_losses(source_conn, target_conn, tables):
    """What a reset would lose, per table of the plan: [{table, state, rows, source_rows}] with
    state missing (the table is gone: nothing of it to lose), equal (it holds what the
    restore puts back) or differs (its rows now would be replaced by the source's)."""
    found = []
    for table in tables:
        with target_conn.cursor() as cur:
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
            exists = cur.fetchone()[0]
        # A materialized view is put back refreshed: what it would hold is its query's rows.
        source = fingerprint.table_fingerprint(source_conn, table, matview_as_query=True)
        if not exists:
            found.append({"table": table, "state": "missing", "rows": None, "source_rows": source["rows"]})
            continue
        target = fingerprint.table_fingerprint(target_conn, table)
        same = (target["rows"], target["checksum"]) == (source["rows"], source["checksum"])
        found.append({"table": table, "state": "equal" if same else "differs", "rows": target["rows"],
                      "source_rows": source["rows"]})
    return found


def loss_lines(losses):
    """One line per table a reset would change, for the operator."""
    lines = []
    for loss in losses:
        if loss["state"] == "missing":
            lines.append(f"{loss['table']}: missing ({loss['source_rows']} rows once reset)")
        elif loss["state"] == "differs":
            lines.append(f"{loss['table']}: {loss['rows']} rows now, {loss['source_rows']} once reset")
    return lines


def services_by_target(services, names):
    """{target key: {service: spec}} of the services ``names`` of the map."""
    grouped = {}
    for name in names:
        grouped.setdefault(target_key(services[name]["endpoint"]), {})[name] = services[name]
    return grouped


def missing_line(state):
    return f"{state['service']}: {', '.join(state['missing'])}"


def _revisions(stdout):
    """The revision ids of `alembic heads` / `alembic current` output, and which are heads."""
    found = []
    for line in stdout.splitlines():
        words = line.split()
        if words and all(c in "0123456789abcdef" for c in words[0]) and len(words[0]) >= 4:
            found.append((words[0], "(head)" in line))
    return found


def alembic_behind(results):
    """From the results of `alembic heads` and `alembic current` runs (loop items
    [service, command]), one line per service not at its single head."""
    by_service = {}
    for result in results:
        service, command = result["item"]
        by_service.setdefault(service, {})[command] = _revisions(result.get("stdout", ""))
    lines = []
    for service, seen in sorted(by_service.items()):
        heads = [rev for rev, _ in seen.get("heads", [])]
        current = [rev for rev, _ in seen.get("current", [])]
        if len(heads) != 1:
            lines.append(f"{service}: {len(heads)} heads ({', '.join(heads) or 'none'}): its migrations must have one")
        elif current != heads:
            lines.append(f"{service}: at {', '.join(current) or 'no revision'}, head is {heads[0]}")
    return lines


def schema_proof(found_results, revision_results):
    """{service: {tables, head}} for the report."""
    proof = {}
    for result in found_results:
        for state in result.get("services", []):
            proof[state["service"]] = {"tables": len(state["tables"]), "head": None}
    for result in revision_results:
        service, command = result["item"]
        if command == "current" and service in proof:
            proof[service]["head"] = ", ".join(rev for rev, _ in _revisions(result.get("stdout", ""))) or None
    return proof
