"""Select one target database's share of a full pg_dump archive.

``pg_restore -l`` lists the archive's table of contents (TOC), one entry a line:
``<dump id>; <catalog oid> <object oid> <desc> <schema> <name> <owner>``. Entries for
catalog objects carry the object's OID, so the plan's OIDs pick them exactly, without
parsing names that may contain spaces. A few entries carry no OID (0 0): sequence
values, partition attachments, comments; they are matched by the exact
``<schema> <name> `` text the plan predicts. The result is fed to ``pg_restore -L``.

Large objects belong to the database, not to a table: PostgreSQL 15 lists one
``<id>; 2613 <oid> BLOB - <oid> <owner>`` entry per object (its creation), one
``<id>; 0 0 BLOBS - BLOBS `` entry (the content of all of them), and their
``COMMENT - LARGE OBJECT <oid>`` / ``ACL - LARGE OBJECT <oid>`` entries. They all go to
the one target the plan gives them to.
"""

import re

# Fixed OIDs of the system catalogs, as pg_dump prints them in the TOC.
CATALOG_OIDS = {
    "pg_class": 1259, "pg_type": 1247, "pg_proc": 1255, "pg_constraint": 2606,
    "pg_trigger": 2620, "pg_attrdef": 2604, "pg_extension": 3079, "pg_namespace": 2615,
    "pg_rewrite": 2618, "pg_policy": 3256, "pg_collation": 3456,
}
PG_LARGEOBJECT = 2613
LARGE_OBJECT_DATA = "BLOBS - BLOBS "
LARGE_OBJECT_EXTRAS = ("COMMENT - LARGE OBJECT ", "ACL - LARGE OBJECT ", "SECURITY LABEL - LARGE OBJECT ")

# Entries that hold rows: "0 <relation oid>".
DATA_DESCS = ("TABLE DATA", "MATERIALIZED VIEW DATA")

ENTRY = re.compile(r"^(\d+); (\d+) (\d+) (.+)$")


class TocError(RuntimeError):
    """The archive does not hold what the plan expects."""


def selection(objects):
    """What of the TOC belongs to a target: OID pairs, data relations, named entries.

    ``objects`` is a plan target's "objects": key ("pg_class:16501") -> catalog row
    (class, oid, type, schema, name, kind).
    """
    by_oid, data, named = set(), set(), set()
    for obj in objects.values():
        by_oid.add((CATALOG_OIDS.get(obj["class"], 0), obj["oid"]))
        if obj["class"] != "pg_class":
            if obj["type"] == "extension":
                named.add(f'COMMENT - EXTENSION {obj["name"]} ')
            continue
        schema, name = obj["schema"], obj["name"]
        kind = obj["kind"]
        if kind in ("r", "p", "m"):
            data.add(obj["oid"])
            named.add(f"TABLE ATTACH {schema} {name} ")
            named.add(f"COMMENT {schema} TABLE {name} ")
            named.add(f"COMMENT {schema} COLUMN {name}.")
        elif kind == "S":
            named.add(f"SEQUENCE SET {schema} {name} ")
            named.add(f"SEQUENCE OWNED BY {schema} {name} ")
            named.add(f"COMMENT {schema} SEQUENCE {name} ")
        elif kind in ("i", "I"):
            named.add(f"INDEX ATTACH {schema} {name} ")
            named.add(f"COMMENT {schema} INDEX {name} ")
    return by_oid, data, named


def parse(listing):
    """Yield (line, dump id, catalog oid, object oid, rest) for each TOC entry."""
    for line in listing.splitlines():
        if not line or line.startswith(";"):
            continue
        match = ENTRY.match(line)
        if not match:
            raise TocError(f"unexpected line in pg_restore -l output: {line!r}")
        dump_id, cat, oid, rest = match.groups()
        yield line, int(dump_id), int(cat), int(oid), rest


def is_large_object_entry(cat, oid, rest):
    if cat == PG_LARGEOBJECT:
        return True
    return not cat and not oid and (rest == LARGE_OBJECT_DATA or rest.startswith(LARGE_OBJECT_EXTRAS))


def filter_listing(listing, objects, large_objects=None):
    """Return the ``pg_restore -L`` list for a target, and the counts of what it holds.

    ``large_objects`` is the plan target's "large_objects" (None: the target gets none).
    Fails if a planned table, or the planned large objects, have no data entry in the
    archive: the plan and the backup would not describe the same database.
    """
    by_oid, data, named = selection(objects)
    kept, seen_data, seen_large_object_data = [], set(), False
    for line, _dump_id, cat, oid, rest in parse(listing):
        if is_large_object_entry(cat, oid, rest):
            if large_objects:
                kept.append(line)
                seen_large_object_data = seen_large_object_data or rest == LARGE_OBJECT_DATA
        elif cat and (cat, oid) in by_oid:
            kept.append(line)
        elif not cat and oid and rest.startswith(DATA_DESCS) and oid in data:
            kept.append(line)
            seen_data.add(oid)
        elif not cat and not oid and any(rest.startswith(prefix) for prefix in named):
            kept.append(line)
    # Partitioned parents hold no rows themselves and have no data entry.
    missing = {oid for oid in data if objects[f"pg_class:{oid}"]["kind"] != "p"} - seen_data
    if missing:
        names = sorted(objects[f"pg_class:{oid}"]["identity"] for oid in missing)
        raise TocError(f"the backup has no data for planned tables {names}: it was not taken from the "
                       "planned source; run the plan and backup phases again")
    if large_objects and not seen_large_object_data:
        raise TocError(f"the plan gives this target the source's {large_objects['count']} large objects, but the "
                       "backup holds none: it was not taken from the planned source; run the plan and backup "
                       "phases again")
    return "\n".join(kept) + "\n", len(kept)
