"""Turn a service -> tables map and a catalog snapshot into a migration plan.

Pure logic, no database: the snapshot comes from ``catalog.read_catalog``. The plan
says, per target database, which tables (partitions included) it receives and every
object those tables need that ``pg_dump -t`` would leave out (types, domains,
functions, sequences, extensions, schemas), which foreign keys must be dropped because
they cross into another database, and what in the map is wrong. Large objects belong to
the whole database, not to a table: the operator names the service that receives them.
"""

import difflib
import hashlib
import json
from collections import defaultdict

# Tables that record a schema version belong to the tool that owns them, not to a
# service's data: every service stamps its own version table after the transfer.
ALEMBIC_PREFIX = "alembic_version"

# Objects that belong to the object they depend on (deptype a = auto, i = internal):
# a table's constraints, defaults, triggers, indexes, owned sequences, row type...
PART_CLASSES = {"pg_constraint", "pg_trigger", "pg_attrdef", "pg_rewrite", "pg_policy",
                "pg_class", "pg_type"}
PART_RELKINDS = {"i", "I", "S", "c"}
TABLE_RELKINDS = {"r", "p"}
OBJECT_FIELDS = ("class", "oid", "type", "schema", "name", "identity", "kind")

# What an operator reads in the plan: the objects that `pg_dump -t` leaves out.
NEEDED_LABELS = {"function": "functions", "sequence": "sequences", "extension": "extensions",
                 "schema": "schemas", "collation": "collations"}
TYPE_LABELS = {"e": "enum types", "c": "composite types", "d": "domains", "r": "range types",
               "m": "range types", "b": "base types"}


def needed_label(obj):
    """Plan section of a needed object, or None for what comes with its table (row types, arrays)."""
    if obj["class"] == "pg_type":
        return None if obj["array_of"] else TYPE_LABELS.get(obj["kind"])
    return NEEDED_LABELS.get(obj["type"])

class MapError(ValueError):
    """The map itself is malformed (not a problem of the source database)."""


def qualify(name, default_schema="public"):
    return name if "." in name else f"{default_schema}.{name}"


def _key(cls, oid):
    return f"{cls}:{oid}"


class Catalog:
    """Indexes over a catalog snapshot for the dependency walk."""

    def __init__(self, snapshot):
        self.snapshot = snapshot
        self.objects = {_key(o["class"], o["oid"]): o for o in snapshot["objects"]}
        self.tables = {}      # "schema.name" -> relation, tables and partitions only
        self.relations = {}   # oid -> relation
        for rel in snapshot["relations"]:
            self.relations[rel["oid"]] = rel
            if rel["kind"] in TABLE_RELKINDS:
                self.tables[f'{rel["schema"]}.{rel["name"]}'] = rel
            self.objects.setdefault(_key("pg_class", rel["oid"]), {
                "class": "pg_class", "oid": rel["oid"], "type": "table", "schema": rel["schema"],
                "name": rel["name"], "identity": f'{rel["schema"]}.{rel["name"]}',
                "kind": rel["kind"], "array_of": None})
        self.parts = defaultdict(set)      # object -> objects that belong to it
        self.needs = defaultdict(set)      # object -> objects it requires
        self.extension_of = {}             # member object -> its extension
        for cls, oid, _sub, refcls, refoid, deptype in snapshot["edges"]:
            obj, ref = _key(cls, oid), _key(refcls, refoid)
            if obj == ref:
                continue
            if deptype == "e":
                self.extension_of[obj] = ref
            elif deptype in ("a", "i") and cls in PART_CLASSES and self._is_part(obj):
                self.parts[ref].add(obj)
            elif deptype == "n":
                self.needs[obj].add(ref)
        self.children = defaultdict(list)
        for rel in snapshot["relations"]:
            if rel["parent"]:
                self.children[rel["parent"]].append(rel["oid"])

    def _is_part(self, key):
        obj = self.objects.get(key)
        if obj is None or obj["class"] != "pg_class":
            return True
        return obj["kind"] in PART_RELKINDS

    def is_table(self, key):
        obj = self.objects.get(key)
        return bool(obj) and obj["class"] == "pg_class" and obj["kind"] in TABLE_RELKINDS

    def partitions(self, oid):
        """Every partition below ``oid``, depth first."""
        for child in self.children.get(oid, []):
            yield child
            yield from self.partitions(child)


def validate_map(catalog, targets, left_behind):
    """List every problem of the map against the source, each naming its fix."""
    problems = []
    known = sorted(catalog.tables)
    owner = {}
    for target in targets:
        for service, tables in target["services"].items():
            if not tables:
                problems.append(f"service '{service}' maps no table: give it at least one or remove it from dbsplit_services")
            for name in tables:
                qname = qualify(name)
                rel = catalog.tables.get(qname)
                if qname.split(".", 1)[1].startswith(ALEMBIC_PREFIX):
                    problems.append(f"service '{service}' maps '{name}': alembic_version* tables are never migrated "
                                    "(each service stamps its own after the transfer); remove it from the map")
                    continue
                if rel is None:
                    hint = difflib.get_close_matches(qname, known, n=1)
                    problems.append(f"service '{service}' maps table '{name}', which does not exist in the source"
                                    + (f" (did you mean '{hint[0]}'?)" if hint else "")
                                    + ": fix the name in dbsplit_services")
                    continue
                if rel["parent"]:
                    problems.append(f"service '{service}' maps '{name}', a partition: map its partitioned table "
                                    "instead (partitions follow their parent)")
                    continue
                if qname in owner:
                    problems.append(f"table '{qname}' is mapped to both '{owner[qname]}' and '{service}': "
                                    "a table belongs to one service; remove one of them")
                    continue
                owner[qname] = service
    for name in left_behind:
        qname = qualify(name)
        if qname not in catalog.tables:
            hint = difflib.get_close_matches(qname, known, n=1)
            problems.append(f"dbsplit_tables_left_behind lists '{name}', which does not exist in the source"
                            + (f" (did you mean '{hint[0]}'?)" if hint else "") + ": fix or remove it")
        elif qname in owner:
            problems.append(f"table '{qname}' is both mapped to '{owner[qname]}' and left behind: choose one")
    left = {qualify(n) for n in left_behind}
    for qname, rel in sorted(catalog.tables.items()):
        if rel["parent"] or qname in owner or qname in left:
            continue
        if qname.split(".", 1)[1].startswith(ALEMBIC_PREFIX):
            continue
        problems.append(f"table '{qname}' is in the source but in no service: its rows would be lost. "
                        "Map it to a service in dbsplit_services or list it in dbsplit_tables_left_behind")
    return problems, owner


def _identity(obj):
    return f'{obj["type"]} {obj["identity"]}'


def plan_target(catalog, target, owner):
    """Walk the dependencies of one target database's tables."""
    mine = {q for q, s in owner.items() if s in target["services"]}
    roots = []
    tables = []
    for qname in sorted(mine):
        rel = catalog.tables[qname]
        entry = {"name": qname, "service": owner[qname], "kind": rel["kind"], "partitions": []}
        roots.append(_key("pg_class", rel["oid"]))
        for child in catalog.partitions(rel["oid"]):
            crel = catalog.relations[child]
            entry["partitions"].append(f'{crel["schema"]}.{crel["name"]}')
            roots.append(_key("pg_class", child))
        tables.append(entry)
    in_target = set(roots)
    # On disk in the source (with indexes and TOAST): what the target's volume must take.
    size = sum(catalog.relations[int(key.split(":")[1])].get("bytes", 0) for key in roots)

    included, dropped_fks, problems = set(), [], []
    queue = list(roots)
    while queue:
        key = queue.pop()
        key = catalog.extension_of.get(key, key)
        if key in included:
            continue
        obj = catalog.objects.get(key)
        if obj is None:
            continue
        outside = [n for n in catalog.needs.get(key, ()) if catalog.is_table(n) and n not in in_target]
        if outside and obj["class"] == "pg_constraint" and obj["kind"] == "f":
            # A foreign key cannot point into another database: leave it out, and say so.
            ref = catalog.objects[outside[0]]
            name, table = obj["identity"].rsplit(" on ", 1)
            dropped_fks.append({"constraint": name, "table": table,
                                "references": ref["identity"],
                                "references_service": owner.get(ref["identity"])})
            continue
        for need in outside:
            problems.append(f"{_identity(obj)} needs table {catalog.objects[need]['identity']}, which is not "
                            "in the same target database: map both tables to services sharing one database")
        included.add(key)
        if obj["schema"] and obj["schema"] != "public" and obj["schema"] in catalog.snapshot["namespaces"]:
            queue.append(_key("pg_namespace", catalog.snapshot["namespaces"][obj["schema"]]))
        queue.extend(catalog.parts.get(key, ()))
        queue.extend(n for n in catalog.needs.get(key, ()) if n not in outside)
        if obj["array_of"]:
            queue.append(_key("pg_type", obj["array_of"]))

    needed = defaultdict(list)
    for key in included - in_target:
        obj = catalog.objects[key]
        label = needed_label(obj)
        if label:
            needed[label].append(obj["identity"])
    return {
        "database": target["database"],
        "endpoint": target["endpoint"],
        "services": sorted(target["services"]),
        "tables": tables,
        "bytes": size,
        "needs": {label: sorted(set(names)) for label, names in sorted(needed.items())},
        "dropped_foreign_keys": sorted(dropped_fks, key=lambda fk: (fk["table"], fk["constraint"])),
        # What the transfer selects from the backup's TOC and the verify phase compares.
        "objects": {key: {f: catalog.objects[key][f] for f in OBJECT_FIELDS} for key in sorted(included)},
    }, problems


def group_targets(services):
    """Group services by target database: services sharing one restore together.

    ``services`` maps a service name to ``{"tables": [...], "endpoint": {...}}``; an
    endpoint is identified by its container (or host and port) and database.
    """
    grouped = {}
    for name, spec in sorted(services.items()):
        if not isinstance(spec, dict) or "tables" not in spec or "endpoint" not in spec:
            raise MapError(f"service '{name}' needs 'tables' and 'endpoint' in dbsplit_services")
        endpoint = spec["endpoint"]
        if "database" not in endpoint or not ("container" in endpoint or "host" in endpoint):
            raise MapError(f"service '{name}': its endpoint needs 'database' and either 'container' or 'host'")
        ident = (endpoint.get("container") or f'{endpoint["host"]}:{endpoint.get("port", 5432)}',
                 endpoint["database"])
        target = grouped.setdefault(ident, {"database": endpoint["database"], "endpoint": endpoint,
                                            "services": {}})
        if target["endpoint"] != endpoint:
            raise MapError(f"services {sorted(target['services'])} and '{name}' share database "
                           f"{ident[1]} on {ident[0]} but describe its endpoint differently")
        target["services"][name] = list(spec["tables"])
    return sorted(grouped.values(), key=lambda t: t["database"])


def megabytes(size):
    return "size unknown" if size is None else f"{size / 1e6:.1f} MB"


def large_object_problems(large_objects, service, services):
    """The large objects must go to exactly one known service when the source has any."""
    if service is not None and service not in services:
        return [f"dbsplit_large_objects_service is '{service}', which is not a service of dbsplit_services "
                f"({', '.join(sorted(services))}): set it to the service that owns the large objects, or unset it"]
    if large_objects["count"] and service is None:
        return [f"the source holds {large_objects['count']} large objects ({megabytes(large_objects['bytes'])}) "
                "that belong to no service: set dbsplit_large_objects_service to the service that owns them "
                "(e.g. the one whose tables hold their oids)"]
    return []


def build_plan(snapshot, services, left_behind=(), large_objects_service=None):
    """The whole plan: targets, tables left behind, problems, and a stable hash.

    ``large_objects_service`` names the service whose target receives the source's large
    objects; its target's "large_objects" is {count, bytes, note}, every other's None.
    """
    catalog = Catalog(snapshot)
    targets = group_targets(services)
    problems, owner = validate_map(catalog, targets, left_behind)
    large_objects = snapshot["large_objects"]
    problems.extend(large_object_problems(large_objects, large_objects_service, services))
    planned = []
    for target in targets:
        tplan, tproblems = plan_target(catalog, target, owner)
        receives = bool(large_objects["count"]) and large_objects_service in target["services"]
        tplan["large_objects"] = dict(large_objects) if receives else None
        planned.append(tplan)
        problems.extend(tproblems)
    left = sorted(q for q, rel in catalog.tables.items()
                  if not rel["parent"] and q not in owner)
    plan = {
        "source_database": snapshot["database"],
        "source_server_version": snapshot["server_version"],
        "source_bytes": snapshot.get("bytes", 0),
        "source_large_objects": dict(large_objects, service=large_objects_service),
        "targets": planned,
        "left_behind": left,
        "problems": problems,
    }
    plan["hash"] = plan_hash(plan, catalog)
    return plan


def plan_hash(plan, catalog):
    """Hash of what the plan moves, by name (not OID): equal plans give equal hashes."""
    canonical = {
        "source": plan["source_database"],
        "targets": [{"database": t["database"], "services": t["services"], "tables": t["tables"],
                     "objects": sorted(_identity(o) for o in t["objects"].values()),
                     "dropped": t["dropped_foreign_keys"],
                     "large_objects": t["large_objects"] is not None} for t in plan["targets"]],
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()[:16]
