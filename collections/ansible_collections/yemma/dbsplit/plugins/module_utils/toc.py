"""Select one target database's share of a full pg_dump archive.

The table of contents (TOC) is read from the custom-format archive itself, not from
``pg_restore --list``: the listing prints names raw and space-separated (a table
``"a.b on c"`` or a schema ``"Odd Schema"`` cannot be told from the words around it) and
leaves out what links the entries. The archive holds, for every entry, its dump id, the
catalog and OID of the object it creates, and the dump ids it depends on. So:

- an entry that creates a catalog object is selected when the plan holds that object
  (by catalog OID and object OID: no name is ever parsed);
- an entry that creates nothing by itself (table data, sequence values, partition and
  index attachments, comments, ownerships of sequences, materialized view data) is
  selected when every entry it depends on is selected.

Large objects belong to the database, not to a table: they all go to the one target the
plan gives them to (``BLOB`` entries, the ``BLOBS`` data entry, and their comments and
ACLs, which depend on a ``BLOB``).

The selection is written as a ``pg_restore --use-list`` file, in the archive's order (the
order pg_restore then follows): one line an entry, its dump id first (the only part
pg_restore reads), then what it is, for the operator.
"""

from collections import namedtuple

# A large object's entry (BLOB; BLOB METADATA from pg_dump 17) and the content of all (BLOBS).
LARGE_OBJECT_DESCS = {"BLOB", "BLOB METADATA", "BLOBS"}
# Entries pg_restore always processes itself (session settings of the restore).
SPECIAL_DESCS = {"ENCODING", "STDSTRINGS", "SEARCHPATH"}
MAGIC = b"PGDMP"
# Archive versions this reader knows (pg_dump 12 to 17 write 1.14 to 1.16).
FIRST_VERSION, LAST_VERSION = (1, 14), (1, 16)

# ``section``: pg_dump's (1 none, 2 pre-data, 3 data, 4 post-data).
Entry = namedtuple("Entry", "dump_id catalog_oid oid desc namespace tag owner deps section", defaults=(1,))
POST_DATA = 4


class TocError(RuntimeError):
    """The archive does not hold what the plan expects, or is not one this reader knows."""


class _Reader:
    def __init__(self, stream, path):
        self.stream, self.path = stream, path
        self.int_size = 4

    def bytes(self, count):
        data = self.stream.read(count)
        if len(data) != count:
            raise TocError(f"{self.path} ends inside its table of contents: the backup is truncated")
        return data

    def int(self):
        sign, data = self.bytes(1)[0], self.bytes(self.int_size)
        value = int.from_bytes(data, "little")
        return -value if sign else value

    def str(self):
        length = self.int()
        return None if length < 0 else self.bytes(length).decode("utf-8")


def read_toc(path):
    """(database, [Entry]) of a custom-format archive, reading only its header and TOC."""
    with open(path, "rb") as stream:
        return read_toc_from(stream, path)


def read_toc_from(stream, path):
    """read_toc on an open archive, which is left positioned right after its TOC."""
    reader = _Reader(stream, path)
    if stream.read(5) != MAGIC:
        raise TocError(f"{path} is not a pg_dump custom-format archive")
    major, minor, _rev, reader.int_size, offset_size, _format = reader.bytes(6)
    if not FIRST_VERSION <= (major, minor) <= LAST_VERSION:
        raise TocError(f"{path} is a pg_dump archive of format {major}.{minor}, which this tool does not read "
                       f"(it reads {FIRST_VERSION[0]}.{FIRST_VERSION[1]} to {LAST_VERSION[0]}.{LAST_VERSION[1]}): "
                       "take the backup with the tools image's pg_dump")
    if (major, minor) >= (1, 15):
        reader.bytes(1)          # compression algorithm
    else:
        reader.int()             # compression level
    for _ in range(7):           # creation time
        reader.int()
    database = reader.str()
    reader.str()                 # server version
    reader.str()                 # pg_dump version
    entries = []
    for _ in range(reader.int()):
        dump_id = reader.int()
        reader.int()             # has a data dumper
        catalog_oid, oid = int(reader.str()), int(reader.str())
        tag, desc = reader.str(), reader.str()
        section = reader.int()
        reader.str(), reader.str(), reader.str()   # CREATE, DROP and COPY statements
        namespace = reader.str()
        reader.str(), reader.str()                 # tablespace, table access method
        if (major, minor) >= (1, 16):
            reader.int()         # relkind
        owner = reader.str()
        reader.str()             # "with oids", always false
        deps = []
        while (dep := reader.str()) is not None:
            deps.append(int(dep))
        reader.bytes(1 + offset_size)              # where the entry's data is
        entries.append(Entry(dump_id, catalog_oid, oid, desc, namespace, tag, owner, tuple(deps), section))
    return database, entries


def _line(entry):
    words = [f"{entry.dump_id};", str(entry.catalog_oid), str(entry.oid), entry.desc,
             entry.namespace or "-", entry.tag or "-", entry.owner or ""]
    # pg_restore reads a line's leading dump id only; the rest is for the reader (one line each).
    return " ".join(words).replace("\n", " ").replace("\r", " ").rstrip()


def filter_entries(entries, objects, large_objects=None):
    """Return the ``pg_restore -L`` list for a target, and how many entries it holds.

    ``objects`` is a plan target's "objects" (key -> catalog row with class_oid and oid),
    ``large_objects`` the plan target's
    "large_objects" (None: the target gets none). Fails if a planned table, or the planned
    large objects, have no data in the archive: the plan and the backup would not describe
    the same database.
    """
    wanted = {(o["class_oid"], o["oid"]) for o in objects.values()}
    existing = {entry.dump_id for entry in entries}
    kept, dependent = [], []
    for entry in entries:
        if entry.desc in SPECIAL_DESCS:
            continue
        if entry.desc in LARGE_OBJECT_DESCS:
            if large_objects:
                kept.append(entry)
        elif entry.catalog_oid:
            if (entry.catalog_oid, entry.oid) in wanted:
                kept.append(entry)
        else:
            dependent.append(entry)
    selected = {entry.dump_id for entry in kept}
    # A dependent entry may depend on another (a materialized view's data on its tables'
    # data): repeat until nothing more is selected.
    while True:
        ready = [e for e in dependent
                 if any(d in existing for d in e.deps) and all(d in selected for d in e.deps if d in existing)]
        if not ready:
            break
        kept.extend(ready)
        selected.update(e.dump_id for e in ready)
        dependent = [e for e in dependent if e.dump_id not in selected]
    data = {entry.oid for entry in kept if entry.desc == "TABLE DATA"}
    missing = sorted(o["identity"] for o in objects.values()
                     if o["class"] == "pg_class" and o["kind"] == "r" and o["oid"] not in data)
    if missing:
        raise TocError(f"the backup has no data for planned tables {missing}: it was not taken from the "
                       "planned source; run the plan and backup phases again")
    if large_objects and not any(e.desc == "BLOBS" for e in kept):
        raise TocError(f"the plan gives this target the source's {large_objects['count']} large objects, but the "
                       "backup holds none: it was not taken from the planned source; run the plan and backup "
                       "phases again")
    # pg_restore --use-list restores in the list's order: keep the archive's (pg_dump sorts
    # it so that every entry comes after what it depends on).
    return "".join(_line(e) + "\n" for e in entries if e.dump_id in selected), len(selected)


def all_but_data_of(entries, table_oids):
    """The ``pg_restore -L`` list of the whole archive but the rows of the tables ``table_oids``
    (their definitions, indexes and constraints stay), and how many entries it holds."""
    kept = [e for e in entries if not (e.desc == "TABLE DATA" and e.oid in table_oids)]
    return "".join(_line(e) + "\n" for e in kept), len(kept)


def without_rows_of(listing, entries, relation_oids):
    """A ``pg_restore -L`` list (from ``filter_entries``) without the rows of the tables and
    materialized views ``relation_oids``, and how many entries it holds (online mode: the
    subscription copies the tables' rows, and a view refreshed over tables still empty would be
    empty: the switch refreshes it once they are copied)."""
    dropped = {e.dump_id for e in entries
               if e.desc in ("TABLE DATA", "MATERIALIZED VIEW DATA") and e.oid in relation_oids}
    kept = [line for line in listing.splitlines(keepends=True) if int(line.split(";", 1)[0]) not in dropped]
    return "".join(kept), len(kept)


def split_after_rows(listing, entries):
    """A ``pg_restore -L`` list split in two: what the rows go into (the tables, their types and
    functions), and what is built once they are in (the post-data section: indexes,
    constraints, triggers, rules, and what depends on them, such as their comments). Returns
    ((list, count) before the rows, (list, count) after them). Online mode copies the rows in
    between: into tables without an index to maintain, then builds each index once, sorted."""
    after = {e.dump_id for e in entries if e.section == POST_DATA}
    while True:
        more = {e.dump_id for e in entries if e.dump_id not in after and any(d in after for d in e.deps)}
        if not more:
            break
        after |= more
    lines = listing.splitlines(keepends=True)
    before = [line for line in lines if int(line.split(";", 1)[0]) not in after]
    built = [line for line in lines if int(line.split(";", 1)[0]) in after]
    return ("".join(before), len(before)), ("".join(built), len(built))
