"""Fingerprints that prove a target holds exactly the source's rows and schema objects.

A table's fingerprint is its row count and two sums over every row's text, each of a
64-bit hash of it with its own seed (PostgreSQL's hashtextextended, PostgreSQL 11 and
later): 128 bits, as strong as the sum of md5 halves it replaced against what a copy
gets wrong (a row lost, duplicated or changed), and about three times faster, since the
row's text is built once and hashed twice without hex parsing or numeric sums per row
(2.2 s against 6.7 s per million rows). It is no defence against rows crafted to
collide, which md5 was not either. The sums are order-independent and computed by the
server in one scan, so neither side sorts or ships rows, and memory stays flat whatever
the table size. Both sides use the same session settings (pgconn.CANONICAL_SETTINGS) so
row text is comparable, and run on the same host (the hash follows the byte order).
Large objects are fingerprinted with md5: count, and a sum of hashes that include each
object's oid.

Tables, sequences and types are named by their PostgreSQL identity (``public."Person"``),
which is already valid SQL: it is used as it is, never quoted again.
"""

import hashlib

# OFFSET 0 keeps the subquery apart, so each row's text is built once for both hashes.
TABLE_FINGERPRINT_SQL = """
SELECT count(*),
       coalesce(sum(hashtextextended(r, 7919)), 0)::text,
       coalesce(sum(hashtextextended(r, 104729)), 0)::text
FROM (SELECT t::text AS r FROM ONLY {table} AS t OFFSET 0) AS rows
"""

# The same over a query's rows (a materialized view's definition): a row's text is the
# same whether it comes from the view or from its query.
QUERY_FINGERPRINT_SQL = """
SELECT count(*),
       coalesce(sum(hashtextextended(r, 7919)), 0)::text,
       coalesce(sum(hashtextextended(r, 104729)), 0)::text
FROM (SELECT t::text AS r FROM ({query}) AS t OFFSET 0) AS rows
"""

# Schema objects compared by definition; names are stable because pg_restore keeps them.
SCHEMA_SQL = """
SELECT 'index', c.relname, pg_get_indexdef(i.indexrelid)
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = %(rel)s::regclass
UNION ALL
SELECT 'constraint', conname, pg_get_constraintdef(oid)
FROM pg_constraint WHERE conrelid = %(rel)s::regclass
UNION ALL
SELECT 'trigger', tgname, pg_get_triggerdef(oid)
FROM pg_trigger WHERE tgrelid = %(rel)s::regclass AND NOT tgisinternal
UNION ALL
SELECT 'column', attname, format_type(atttypid, atttypmod) || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = %(rel)s::regclass AND a.attnum > 0 AND NOT a.attisdropped
"""

SEQUENCE_SQL = "SELECT last_value::text, is_called FROM {sequence}"

ENUM_SQL = """
SELECT array_agg(e.enumlabel ORDER BY e.enumsortorder)
FROM pg_enum e WHERE e.enumtypid = %(type)s::regtype
"""

# Large objects from their pages (SELECT on pg_largeobject: superusers, by default): one
# scan by the server, a hash per page of at most 2 kB, flat memory whatever their size.
# A page's trailing zeros are trimmed and all-zero pages skipped, and each object's end
# (last page and its length) is hashed apart: an object with holes (pages never written)
# then hashes like its copy, where pg_restore wrote the holes out as zeros.
LARGE_OBJECT_PAGES_SQL = """
SELECT (SELECT count(*) FROM pg_largeobject_metadata),
       coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0)::text,
       coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0)::text
FROM (SELECT md5(convert_to(loid || ':' || pageno || ':', 'UTF8') || rtrim(data, '\\x00'::bytea)) AS h
      FROM pg_largeobject
      WHERE rtrim(data, '\\x00'::bytea) <> ''::bytea
      UNION ALL
      SELECT md5(m.oid || ':end:' || coalesce(e.pageno, -1) || ':' || coalesce(octet_length(e.data), 0))
      FROM pg_largeobject_metadata AS m
      LEFT JOIN LATERAL (SELECT pageno, data FROM pg_largeobject AS p WHERE p.loid = m.oid
                         ORDER BY pageno DESC LIMIT 1) AS e ON true) AS hashes
"""

# Without SELECT on pg_largeobject, through each object: lo_get reads one object whole
# into the server's memory (as much memory as the largest object, one at a time; an
# object over 1 GB cannot be read this way), so this is the fallback.
LARGE_OBJECT_WHOLE_SQL = """
SELECT count(*),
       coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0)::text,
       coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0)::text
FROM (SELECT md5(oid || ':' || md5(lo_get(oid))) AS h FROM pg_largeobject_metadata) AS hashes
"""


def table_fingerprint(conn, qname, matview_as_query=False):
    """Rows and checksum of a table or a materialized view (one never refreshed has none).
    ``matview_as_query``: a materialized view's rows as its query gives them now (what a
    refresh would store), not as its last refresh stored them."""
    with conn.cursor() as cur:
        cur.execute("SELECT relkind = 'm', relispopulated FROM pg_class WHERE oid = %s::regclass", (qname,))
        matview, populated = cur.fetchone()
        if matview and not populated:
            return {"rows": 0, "checksum": "not populated"}
        if matview and matview_as_query:
            cur.execute("SELECT pg_get_viewdef(%s::regclass)", (qname,))
            cur.execute(QUERY_FINGERPRINT_SQL.format(query=cur.fetchone()[0].strip().rstrip(";")))
        else:
            cur.execute(TABLE_FINGERPRINT_SQL.format(table=qname))
        count, high, low = cur.fetchone()
    digest = hashlib.sha256(f"{count}:{high}:{low}".encode()).hexdigest()[:32]
    return {"rows": count, "checksum": digest}


def reads_large_object_pages(conn):
    """Whether the login may read pg_largeobject (the fingerprint with flat memory)."""
    with conn.cursor() as cur:
        cur.execute("SELECT has_table_privilege('pg_catalog.pg_largeobject', 'SELECT')")
        return cur.fetchone()[0]


def large_object_count(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_largeobject_metadata")
        return cur.fetchone()[0]


def large_objects_fingerprint(conn, from_pages):
    """Count and checksum of every large object (oid and content). Both sides of a
    comparison must use the same ``from_pages``: the two ways hash differently."""
    with conn.cursor() as cur:
        cur.execute(LARGE_OBJECT_PAGES_SQL if from_pages else LARGE_OBJECT_WHOLE_SQL)
        count, high, low = cur.fetchone()
    digest = hashlib.sha256(f"{count}:{high}:{low}".encode()).hexdigest()[:32]
    return {"count": count, "checksum": digest}


def table_bytes(conn, qname):
    with conn.cursor() as cur:
        cur.execute("SELECT pg_total_relation_size(%s::regclass)", (qname,))
        return cur.fetchone()[0]


def schema_objects(conn, qname):
    with conn.cursor() as cur:
        cur.execute(SCHEMA_SQL, {"rel": qname})
        return {(kind, name): definition for kind, name, definition in cur.fetchall()}


def sequence_state(conn, qname):
    with conn.cursor() as cur:
        cur.execute(SEQUENCE_SQL.format(sequence=qname))
        last_value, is_called = cur.fetchone()
    return {"last_value": last_value, "is_called": is_called}


def enum_labels(conn, qname):
    with conn.cursor() as cur:
        cur.execute(ENUM_SQL, {"type": qname})
        return cur.fetchone()[0]


# What an object placed in a target must look like there: found by its address (not its
# OID, which differs), and described by its definition as the server prints it.
DEFINITION_SQL = """
SELECT CASE a.classid
  WHEN 'pg_class'::regclass THEN
    (SELECT CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid)
                 WHEN c.relkind = 'S' THEN (SELECT concat_ws(' ', seqtypid::regtype, seqstart, seqincrement, seqmin,
                                                             seqmax, seqcache, seqcycle)
                                            FROM pg_sequence WHERE seqrelid = c.oid)
            END FROM pg_class c WHERE c.oid = a.objid)
  WHEN 'pg_proc'::regclass THEN
    (SELECT concat_ws(' ', prokind, pg_get_function_arguments(p.oid), pg_get_function_result(p.oid), l.lanname,
                      provolatile, prosrc, (SELECT concat_ws(' ', aggtransfn, aggtranstype::regtype, aggfinalfn,
                                                             agginitval)
                                            FROM pg_aggregate WHERE aggfnoid = p.oid))
     FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang WHERE p.oid = a.objid)
  WHEN 'pg_type'::regclass THEN
    (SELECT concat_ws(' ', t.typtype, CASE WHEN t.typbasetype <> 0 THEN format_type(t.typbasetype, t.typtypmod) END,
                      (SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = t.oid),
                      (SELECT string_agg(pg_get_constraintdef(oid), ',' ORDER BY conname)
                       FROM pg_constraint WHERE contypid = t.oid),
                      (SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ',' ORDER BY attnum)
                       FROM pg_attribute WHERE attrelid = t.typrelid AND attnum > 0 AND NOT attisdropped))
     FROM pg_type t WHERE t.oid = a.objid)
  ELSE ''
END
FROM pg_get_object_address(%(type)s, %(names)s, %(args)s) AS a
"""


def object_definition(psycopg, conn, address):
    """The object's definition as the server prints it ('' for the kinds only checked for
    existence), or None when the database has no such object."""
    try:
        with conn.cursor() as cur:
            cur.execute(DEFINITION_SQL, {"type": address[0], "names": address[1], "args": address[2]})
            return cur.fetchone()[0] or ""
    except (psycopg.errors.UndefinedObject, psycopg.errors.UndefinedTable, psycopg.errors.UndefinedFunction,
            psycopg.errors.InvalidSchemaName):
        return None


def compare_schema(source, target, dropped_constraints):
    """Differences between two schema_objects() maps, minus the planned dropped FKs."""
    differences = []
    for key, definition in sorted(source.items()):
        if key[0] == "constraint" and key[1] in dropped_constraints:
            if key in target:
                differences.append(f"{key[0]} {key[1]} crosses databases and should have been left out")
            continue
        if key not in target:
            differences.append(f"{key[0]} {key[1]} is missing")
        elif target[key] != definition:
            differences.append(f"{key[0]} {key[1]} differs: source {definition!r}, target {target[key]!r}")
    for key in sorted(set(target) - set(source)):
        differences.append(f"{key[0]} {key[1]} is in the target only")
    return differences
