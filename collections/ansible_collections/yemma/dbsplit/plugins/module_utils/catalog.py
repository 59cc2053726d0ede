"""Read what the planner needs from a PostgreSQL catalog (psycopg 3).

Only small catalog rows are fetched (one per object), never table data, so memory
does not grow with the size of the database.
"""

# Objects created by initdb have OIDs below this; they exist in every target already.
FIRST_NORMAL_OID = 16384

SYSTEM_SCHEMAS_SQL = "('pg_catalog', 'information_schema')"

RELATIONS_SQL = f"""
SELECT c.oid, n.nspname, c.relname, quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind,
       (SELECT i.inhparent FROM pg_inherits i WHERE i.inhrelid = c.oid AND c.relispartition) AS parent,
       pg_total_relation_size(c.oid) AS bytes
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN {SYSTEM_SCHEMAS_SQL} AND n.nspname NOT LIKE 'pg\\_toast%%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY n.nspname, c.relname
"""

# This tool's own publications on the monolith (online mode's copy) are no object of the
# platform: they are neither planned nor copied, and their being there does not change the plan.
OWN_PUBLICATION_PARTS = """
  AND NOT (classid = 'pg_publication_rel'::regclass AND objid IN (
           SELECT r.oid FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid
           WHERE p.pubname LIKE 'dbsplit\\_%%'))"""

# Every dependency edge between user objects (both ends created after initdb).
DEPENDS_SQL = f"""
SELECT classid::regclass::text, objid, objsubid,
       refclassid::regclass::text, refobjid, deptype
FROM pg_depend
WHERE objid >= {FIRST_NORMAL_OID} AND refobjid >= {FIRST_NORMAL_OID}
  -- Triggers that enforce foreign keys are created with their constraint, not restored.
  AND NOT (classid = 'pg_trigger'::regclass
           AND EXISTS (SELECT 1 FROM pg_trigger t WHERE t.oid = objid AND t.tgisinternal)){OWN_PUBLICATION_PARTS}
"""

# The objects an operator creates: everything in a user schema (each records a normal
# dependency on its schema), the user schemas themselves, and what lives beside schemas.
# Parts of other objects (indexes, owned sequences, row types...) and extension members
# are sorted out by the planner, which sees the edges.
TOP_LEVEL_SQL = f"""
SELECT d.classid, d.objid FROM pg_depend d
JOIN pg_namespace n ON n.oid = d.refobjid
WHERE d.refclassid = 'pg_namespace'::regclass AND d.deptype = 'n' AND d.objsubid = 0
  AND d.objid >= {FIRST_NORMAL_OID}
  AND n.nspname NOT IN {SYSTEM_SCHEMAS_SQL} AND n.nspname NOT LIKE 'pg\\_%%'
UNION SELECT 'pg_namespace'::regclass, oid FROM pg_namespace
      WHERE oid >= {FIRST_NORMAL_OID} AND nspname NOT LIKE 'pg\\_%%'
UNION SELECT 'pg_extension'::regclass, oid FROM pg_extension WHERE oid >= {FIRST_NORMAL_OID}
UNION SELECT 'pg_publication'::regclass, oid FROM pg_publication WHERE pubname NOT LIKE 'dbsplit\\_%%'
UNION SELECT 'pg_event_trigger'::regclass, oid FROM pg_event_trigger
UNION SELECT 'pg_cast'::regclass, oid FROM pg_cast WHERE oid >= {FIRST_NORMAL_OID}
UNION SELECT 'pg_language'::regclass, oid FROM pg_language WHERE oid >= {FIRST_NORMAL_OID}
UNION SELECT 'pg_foreign_data_wrapper'::regclass, oid FROM pg_foreign_data_wrapper WHERE oid >= {FIRST_NORMAL_OID}
UNION SELECT 'pg_foreign_server'::regclass, oid FROM pg_foreign_server WHERE oid >= {FIRST_NORMAL_OID}
"""

# Identity, address and kind of every object in an edge or at the top level. The identity
# is PostgreSQL's own (pg_identify_object: schema-qualified, quoted where needed, valid SQL)
# and is the only name the tool uses for an object from the plan to the report; the address
# (pg_identify_object_as_address) finds the object again in a target whatever its name.
OBJECTS_SQL = f"""
WITH edges AS (
    SELECT classid, objid, refclassid, refobjid FROM pg_depend
    WHERE objid >= {FIRST_NORMAL_OID} AND refobjid >= {FIRST_NORMAL_OID}{OWN_PUBLICATION_PARTS}
), top AS ({TOP_LEVEL_SQL}
), ids AS (
    SELECT classid, objid FROM edges UNION SELECT refclassid, refobjid FROM edges
    UNION SELECT classid, objid FROM top
)
SELECT ids.classid::regclass::text, ids.objid, o.type, o.schema, o.name, o.identity,
       CASE ids.classid WHEN 'pg_class'::regclass THEN (SELECT relkind::text FROM pg_class WHERE oid = ids.objid)
                        -- A table's row type is created with the table: mark it apart from CREATE TYPE ... AS.
                        WHEN 'pg_type'::regclass THEN (SELECT CASE WHEN r.relkind IN ('r', 'p', 'v', 'm', 'f') THEN 'rowtype'
                                                                   ELSE t.typtype::text END
                                                       FROM pg_type t LEFT JOIN pg_class r ON r.oid = t.typrelid
                                                       WHERE t.oid = ids.objid)
                        WHEN 'pg_constraint'::regclass THEN (SELECT contype::text FROM pg_constraint WHERE oid = ids.objid)
       END AS kind,
       CASE ids.classid WHEN 'pg_type'::regclass
            THEN (SELECT CASE WHEN typcategory = 'A' THEN typelem END FROM pg_type WHERE oid = ids.objid)
       END AS array_of,
       a.type, a.object_names, a.object_args,
       EXISTS (SELECT 1 FROM top WHERE top.classid = ids.classid AND top.objid = ids.objid) AS top_level
FROM ids
CROSS JOIN LATERAL pg_identify_object(ids.classid, ids.objid, 0) AS o
CROSS JOIN LATERAL pg_identify_object_as_address(ids.classid, ids.objid, 0) AS a
"""

# The OIDs of the system catalogs, which the backup's TOC names objects by.
CLASS_OIDS_SQL = "SELECT relname::text, oid FROM pg_class WHERE relnamespace = 'pg_catalog'::regnamespace AND relkind = 'r'"

# Large objects, and how many of them the login cannot read (pg_dump could not either):
# without lo_compat_privileges, reading one needs SELECT on it, granted or as a member of
# its owner (superusers are members of every role).
LARGE_OBJECTS_SQL = """
SELECT count(*),
       count(*) FILTER (WHERE NOT (current_setting('lo_compat_privileges')::bool
                                   OR pg_has_role(lomowner, 'USAGE')
                                   OR EXISTS (SELECT 1 FROM aclexplode(lomacl) AS a
                                              WHERE a.privilege_type = 'SELECT'
                                                AND (a.grantee = 0 OR pg_has_role(a.grantee, 'USAGE'))))),
       has_table_privilege('pg_catalog.pg_largeobject', 'SELECT')
FROM pg_largeobject_metadata
"""
# Their size from their pages: needs SELECT on pg_largeobject (superusers only, by default).
LARGE_OBJECT_PAGES_BYTES_SQL = "SELECT coalesce(sum(octet_length(data)), 0) FROM pg_largeobject"
# Otherwise, where a seek to each one's end lands: reads no content, needs only the right
# to read each object. Descriptors stay open until the transaction ends.
LARGE_OBJECT_SEEK_BYTES_SQL = """
SELECT coalesce(sum(lo_lseek64(lo_open(oid, x'40000'::int), 0, 2)), 0) FROM pg_largeobject_metadata
"""


def read_large_objects(conn):
    """{"count", "bytes", "note"} of the database's large objects; bytes is None (and the
    note says why) when the login may not read all of them."""
    with conn.cursor() as cur:
        cur.execute(LARGE_OBJECTS_SQL)
        count, unreadable, pages_readable = cur.fetchone()
        if not count:
            return {"count": 0, "bytes": 0, "note": None}
        if pages_readable:
            cur.execute(LARGE_OBJECT_PAGES_BYTES_SQL)
            size = cur.fetchone()[0]
        elif not unreadable:
            with conn.transaction():
                cur.execute(LARGE_OBJECT_SEEK_BYTES_SQL)
                size = cur.fetchone()[0]
        else:
            return {"count": count, "bytes": None,
                    "note": f"{unreadable} of them cannot be read by this login, so their size is unknown "
                            "(and pg_dump would fail on them): grant it SELECT on them, or connect as "
                            "their owner or a superuser"}
    return {"count": count, "bytes": int(size), "note": None}


def read_catalog(conn):
    """Return a JSON-serialisable snapshot of the catalog of ``conn``'s database."""
    with conn.cursor() as cur:
        cur.execute(RELATIONS_SQL)
        relations = [
            {"oid": oid, "schema": schema, "name": name, "identity": identity, "kind": kind, "parent": parent,
             "bytes": size}
            for oid, schema, name, identity, kind, parent, size in cur.fetchall()
        ]
        cur.execute(DEPENDS_SQL)
        edges = [list(row) for row in cur.fetchall()]
        cur.execute(OBJECTS_SQL)
        objects = [
            {"class": cls, "oid": oid, "type": otype, "schema": schema, "name": name,
             "identity": identity, "kind": kind, "array_of": array_of,
             "address": [atype, names, args], "top_level": top_level}
            for cls, oid, otype, schema, name, identity, kind, array_of, atype, names, args, top_level
            in cur.fetchall()
        ]
        cur.execute(CLASS_OIDS_SQL)
        class_oids = dict(cur.fetchall())
        cur.execute("SELECT current_database(), current_setting('server_version_num')::int, "
                    "pg_database_size(current_database())")
        database, server_version, size = cur.fetchone()
    return {
        "database": database,
        "server_version": server_version,
        "bytes": size,
        "relations": relations,
        "edges": edges,
        "objects": objects,
        "class_oids": class_oids,
        "large_objects": read_large_objects(conn),
    }
