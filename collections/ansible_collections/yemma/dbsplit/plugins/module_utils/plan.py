"""Turn a service -> tables map and a catalog snapshot into a migration plan.

Pure logic, no database: the snapshot comes from ``catalog.read_catalog``. The plan
says, per target database, which tables (partitions included) it receives and every
object those tables need that ``pg_dump -t`` would leave out (types, domains,
functions, sequences, extensions, schemas), which foreign keys must be dropped because
they cross into another database, and what in the map is wrong. Large objects belong to
the whole database, not to a table: the operator names the service that receives them.

Every other object an operator creates (views, materialized views, functions, procedures,
aggregates, types, domains, sequences no column owns, schemas, extensions, publications,
casts, event triggers...) gets a fate too, or the plan has a problem: see object_fates.

Names: an object is named by its PostgreSQL identity (pg_identify_object: schema-qualified,
quoted where needed, e.g. ``public."Person"``), from the plan to the report, and never
quoted again. The map may spell a table as its identity or raw (``public.Person``).
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
                "pg_class", "pg_type", "pg_publication_rel", "pg_publication_namespace"}
PART_RELKINDS = {"i", "I", "S", "c"}
TABLE_RELKINDS = {"r", "p"}
OBJECT_FIELDS = ("class", "class_oid", "oid", "type", "identity", "kind", "address", "top_level")

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


def _key(cls, oid):
    return f"{cls}:{oid}"


def object_name(obj):
    """How the plan, the map and the report name an object: its type and identity."""
    return f'{obj["type"]} {obj["identity"]}'


def parse_qualified(text):
    """The raw parts of a name written in SQL (``public."Person"`` -> ["public", "Person"]):
    quoted parts as they are (with "" for a quote), unquoted ones folded to lower case as
    PostgreSQL folds them. None when it is not a valid SQL name."""
    parts, i = [], 0
    while True:
        if text[i:i + 1] == '"':
            end, part = i + 1, []
            while True:
                close = text.find('"', end)
                if close < 0:
                    return None
                part.append(text[end:close])
                if text[close + 1:close + 2] != '"':
                    break
                part.append('"')
                end = close + 2
            parts.append("".join(part))
            i = close + 1
        else:
            dot = text.find(".", i)
            word = text[i:] if dot < 0 else text[i:dot]
            if not word or '"' in word or any(c.isspace() for c in word):
                return None
            parts.append("".join(c.lower() if "A" <= c <= "Z" else c for c in word))
            i = len(text) if dot < 0 else dot
        if i == len(text):
            return parts
        if text[i] != ".":
            return None
        i += 1


class Catalog:
    """Indexes over a catalog snapshot for the dependency walk."""

    def __init__(self, snapshot):
        self.snapshot = snapshot
        self.objects = {_key(o["class"], o["oid"]): dict(o) for o in snapshot["objects"]}
        self.tables = {}      # identity -> relation, tables and partitions only
        self.relations = {}   # oid -> relation
        self.raw_names = defaultdict(set)  # "schema.name" as stored, and "name" in public -> identities
        self.by_parts = {}                 # (schema, name) as stored -> identity
        for rel in snapshot["relations"]:
            self.relations[rel["oid"]] = rel
            if rel["kind"] in TABLE_RELKINDS:
                self.tables[rel["identity"]] = rel
                self.by_parts[(rel["schema"], rel["name"])] = rel["identity"]
                self.raw_names[f'{rel["schema"]}.{rel["name"]}'].add(rel["identity"])
                if rel["schema"] == "public":
                    self.raw_names[rel["name"]].add(rel["identity"])
            self.objects.setdefault(_key("pg_class", rel["oid"]), {
                "class": "pg_class", "oid": rel["oid"], "type": "table", "identity": rel["identity"],
                "kind": rel["kind"], "array_of": None, "top_level": True,
                "address": ["table", [rel["schema"], rel["name"]], []]})
        for obj in self.objects.values():
            # The backup's table of contents names an object by its catalog's OID and its own.
            obj["class_oid"] = snapshot["class_oids"][obj["class"]]
        self.parts = defaultdict(set)      # object -> objects that belong to it
        self.owners = defaultdict(set)     # part -> objects it belongs to
        self.needs = defaultdict(set)      # object -> objects it requires
        self.extension_of = {}             # member object -> its extension
        for cls, oid, sub, refcls, refoid, deptype in snapshot["edges"]:
            obj, ref = _key(cls, oid), _key(refcls, refoid)
            if obj == ref:
                continue
            if deptype == "e":
                self.extension_of[obj] = ref
            elif deptype in ("a", "i") and cls in PART_CLASSES and self._is_part(obj):
                self.parts[ref].add(obj)
                self.owners[obj].add(ref)
            elif deptype == "n" or (deptype == "a" and sub and cls == "pg_class"):
                # PostgreSQL 13 records what a generated column's expression calls as an auto
                # dependency of the column itself (15 as a normal one of its pg_attrdef).
                self.needs[obj].add(ref)
        for part in self.owners:
            # What belongs to another object (a column's sequence) is not one the operator placed.
            if part in self.objects:
                self.objects[part]["top_level"] = False
        self.children = defaultdict(list)
        for rel in snapshot["relations"]:
            if rel["parent"]:
                self.children[rel["parent"]].append(rel["oid"])

    def _is_part(self, key):
        obj = self.objects.get(key)
        if obj is None or obj["class"] != "pg_class":
            return True
        return obj["kind"] in PART_RELKINDS

    def resolve_table(self, name):
        """(identity, None) of the table ``name`` names, or (None, why not). A name is read
        as stored (``public.Person``, or ``Person`` in public), so a map need not quote at
        all, and as SQL (``public."Person"``, or ``"Person"``) where that is valid."""
        found = set(self.raw_names.get(name, ()))
        parts = parse_qualified(name)
        if parts and len(parts) <= 2:
            key = tuple(["public"] * (2 - len(parts)) + parts)
            if key in self.by_parts:
                found.add(self.by_parts[key])
        if len(found) == 1:
            return next(iter(found)), None
        if found:
            return None, (f"'{name}', which could be any of {', '.join(sorted(found))} (write it as one of them, "
                          "quoted as PostgreSQL prints it)")
        hint = difflib.get_close_matches(name if "." in name else f"public.{name}", sorted(self.tables), n=1)
        return None, f"'{name}', which does not exist in the source" + (f" (did you mean '{hint[0]}'?)" if hint else "")

    def is_table(self, key):
        obj = self.objects.get(key)
        return bool(obj) and obj["class"] == "pg_class" and obj["kind"] in TABLE_RELKINDS

    def partitions(self, oid):
        """Every partition below ``oid``, depth first."""
        for child in self.children.get(oid, []):
            yield child
            yield from self.partitions(child)


def validate_map(catalog, targets, left_behind):
    """List every problem of the map against the source, each naming its fix.

    Returns (problems, owner: table identity -> service, tables left behind by the map)."""
    problems = []
    owner = {}
    for target in targets:
        for service, tables in target["services"].items():
            if not tables:
                problems.append(f"service '{service}' maps no table: give it at least one or remove it from dbsplit_services")
            for name in tables:
                identity, why = catalog.resolve_table(name)
                if identity is None:
                    problems.append(f"service '{service}' maps table {why}: fix the name in dbsplit_services")
                    continue
                rel = catalog.tables[identity]
                if rel["name"].startswith(ALEMBIC_PREFIX):
                    problems.append(f"service '{service}' maps '{name}': alembic_version* tables are never migrated "
                                    "(each service stamps its own after the transfer); remove it from the map")
                    continue
                if rel["parent"]:
                    problems.append(f"service '{service}' maps '{name}', a partition: map its partitioned table "
                                    "instead (partitions follow their parent)")
                    continue
                if identity in owner:
                    problems.append(f"table {identity} is mapped to both '{owner[identity]}' and '{service}': "
                                    "a table belongs to one service; remove one of them")
                    continue
                owner[identity] = service
    left = set()
    for name in left_behind:
        identity, why = catalog.resolve_table(name)
        if identity is None:
            problems.append(f"dbsplit_tables_left_behind lists {why}: fix or remove it")
        elif identity in owner:
            problems.append(f"table {identity} is both mapped to '{owner[identity]}' and left behind: choose one")
        else:
            left.add(identity)
    for identity, rel in sorted(catalog.tables.items()):
        if rel["parent"] or identity in owner or identity in left or rel["name"].startswith(ALEMBIC_PREFIX):
            continue
        problems.append(f"table {identity} is in the source but in no service: its rows would be lost. "
                        "Map it to a service in dbsplit_services or list it in dbsplit_tables_left_behind")
    return problems, owner


def plan_target(catalog, target, owner, extra_roots=()):
    """Walk the dependencies of one target database's tables, and of the other objects
    (``extra_roots``) that go with them."""
    mine = {q for q, s in owner.items() if s in target["services"]}
    roots = []
    tables = []
    for identity in sorted(mine):
        rel = catalog.tables[identity]
        entry = {"name": identity, "service": owner[identity], "kind": rel["kind"], "partitions": []}
        roots.append(_key("pg_class", rel["oid"]))
        for child in catalog.partitions(rel["oid"]):
            entry["partitions"].append(catalog.relations[child]["identity"])
            roots.append(_key("pg_class", child))
        tables.append(entry)
    in_target = set(roots)
    # On disk in the source (with indexes and TOAST): what the target's volume must take.
    size = sum(catalog.relations[int(key.split(":")[1])].get("bytes", 0) for key in roots)

    included, dropped_fks, problems = set(), [], []
    queue = list(roots) + sorted(extra_roots)
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
            table = next(catalog.objects[o]["identity"] for o in catalog.owners[key] if catalog.is_table(o))
            dropped_fks.append({"constraint": obj["address"][1][-1], "table": table,
                                "references": ref["identity"],
                                "references_service": owner.get(ref["identity"])})
            continue
        for need in outside:
            problems.append(f"{object_name(obj)} needs table {catalog.objects[need]['identity']}, which is not "
                            "in the same target database: map both tables to services sharing one database")
        included.add(key)
        queue.extend(catalog.parts.get(key, ()))
        queue.extend(n for n in catalog.needs.get(key, ()) if n not in outside)
        if obj["array_of"]:
            queue.append(_key("pg_type", obj["array_of"]))
    # A part of two objects (a table's membership in a publication) goes only where both go.
    included = {key for key in included if catalog.owners.get(key, set()) <= included}

    needed = defaultdict(list)
    for key in included - in_target:
        obj = catalog.objects[key]
        label = needed_label(obj)
        if label:
            needed[label].append(obj["identity"])
    return {
        "key": target["key"],
        "label": target["label"],
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


def tables_read(catalog, key):
    """The tables an object depends on, through its parts and what it needs (a view's
    query, a publication's members, a function's row-type arguments)."""
    seen, found, queue = set(), set(), [key]
    while queue:
        current = queue.pop()
        if current in seen:
            continue
        seen.add(current)
        if catalog.is_table(current) and current != key:
            found.add(current)
            continue
        queue.extend(catalog.parts.get(current, ()))
        queue.extend(catalog.owners.get(current, ()))
        queue.extend(catalog.needs.get(current, ()))
    return found


def top_level_objects(catalog):
    """Every object an operator created that is not a table, a part of another object or a
    member of an extension: key -> object."""
    return {key: obj for key, obj in catalog.objects.items()
            if obj.get("top_level") and not catalog.is_table(key) and key not in catalog.extension_of}


class Fates:
    """Where each object that is not a table goes, from the map and the dependencies."""

    def __init__(self, catalog, targets, owner, services, objects_left_behind):
        self.catalog, self.targets, self.owner = catalog, targets, owner
        self.target_of = {svc: i for i, t in enumerate(targets) for svc in t["services"]}
        self.objects = top_level_objects(catalog)
        by_name = {object_name(obj): key for key, obj in self.objects.items()}
        self.problems = []
        self.placed = defaultdict(set)       # key -> target indexes the map puts it in
        self.declared_left = set()
        for service, spec in sorted(services.items()):
            for name in spec.get("objects") or []:
                key = self._resolve(by_name, name, f"service '{service}' places")
                if key:
                    self.placed[key].add(self.target_of[service])
        for name in objects_left_behind:
            key = self._resolve(by_name, name, "dbsplit_objects_left_behind lists")
            if key:
                self.declared_left.add(key)
        self.extra_roots = defaultdict(set)  # target index -> keys that go with its tables
        self.decided = {}                    # key -> (fate, why)
        for key in sorted(self.objects, key=lambda k: object_name(self.objects[k])):
            self._decide(key)

    def _resolve(self, by_name, name, where):
        if name in by_name:
            return by_name[name]
        hint = difflib.get_close_matches(name, sorted(by_name), n=1)
        self.problems.append(f"{where} '{name}', which is no object of the source"
                             + (f" (did you mean '{hint[0]}'?)" if hint else "")
                             + ": write it as the plan lists it (type and identity)")
        return None

    def _tables_by_target(self, key):
        found = defaultdict(list)
        for table in sorted(self.catalog.objects[t]["identity"] for t in tables_read(self.catalog, key)):
            service = self.owner.get(table)
            found[self.target_of[service] if service else None].append(table)
        return found

    def _holds_anything(self, schema_key):
        return any(schema_key in needs for needs in self.catalog.needs.values())

    def _decide(self, key):
        name = object_name(self.objects[key])
        by_target = self._tables_by_target(key)
        if key in self.declared_left:
            if key in self.placed:
                self.problems.append(f"{name} is both placed with a service and in dbsplit_objects_left_behind: "
                                     "choose one")
            self.decided[key] = ("left", "declared in dbsplit_objects_left_behind")
            return
        if key in self.placed:
            for index in sorted(self.placed[key]):
                foreign = [t for i, tables in by_target.items() if i != index for t in tables]
                if foreign:
                    self.problems.append(
                        f"{name} is placed in {self.targets[index]['label']} but depends on "
                        f"{', '.join(foreign)}, which {self.targets[index]['label']} does not receive: "
                        "place it with the service of those tables, or list it in dbsplit_objects_left_behind")
                else:
                    self.extra_roots[index].add(key)
            self.decided[key] = ("placed", "placed by the map")
            return
        if not by_target and self.objects[key]["class"] == "pg_namespace" and self._holds_anything(key):
            # A schema goes where its objects go; if none of them goes anywhere, it stays.
            self.decided[key] = ("schema", "none of the objects in it is migrated")
        elif not by_target:
            self.decided[key] = ("free", None)
        elif list(by_target) == [None]:
            self.decided[key] = ("left", f"reads only tables left behind ({', '.join(by_target[None])})")
        elif len(by_target) == 1:
            index = next(iter(by_target))
            self.extra_roots[index].add(key)
            services = sorted({self.owner[t] for t in by_target[index]})
            self.decided[key] = ("with", f"reads tables of {', '.join(services)} only")
        else:
            self.decided[key] = ("across", by_target)

    def resolve(self, included):
        """The fate of every object, once the targets' walks (``included``: one set of keys
        per target) are known; adds a problem for each object that has none."""
        fates = []
        for key in sorted(self.objects, key=lambda k: object_name(self.objects[k])):
            name = object_name(self.objects[key])
            where = [self.targets[i]["label"] for i, keys in enumerate(included) if key in keys]
            fate, why = self.decided[key]
            if fate == "schema" and not where:
                fate = "left"
            if fate == "left":
                if where:
                    self.problems.append(f"{name} is left behind ({why}) but {', '.join(where)} needs it: "
                                         "remove it from dbsplit_objects_left_behind")
                fates.append({"object": name, "targets": [], "fate": why})
                continue
            if fate == "across" and not where:
                reads = "; ".join(f"{', '.join(tables)} ("
                                  + (f"{', '.join(sorted({self.owner[t] for t in tables}))} in "
                                     f"{self.targets[i]['label']}" if i is not None else "left behind") + ")"
                                  for i, tables in why.items())
                self.problems.append(f"{name} reads tables that end up in different databases ({reads}): it can "
                                     f"exist in none of them. List it in dbsplit_objects_left_behind: ['{name}']")
                continue
            if fate == "free" and not where:
                invisible = (" (what a function body reads is invisible to PostgreSQL)"
                             if self.objects[key]["class"] == "pg_proc" else "")
                self.problems.append(
                    f"{name} depends on no table{invisible}: place it "
                    f"with the service(s) that use it (objects: ['{name}'] under the service in dbsplit_services) "
                    f"or list it in dbsplit_objects_left_behind")
                continue
            obj = self.objects[key]
            if obj["class"] == "pg_class" and obj.get("kind") == "S" and len(set(where)) > 1:
                # Each copy would hand out the same values: duplicate ids after the cutover, and a
                # rollback would carry back whichever copy it read last, possibly the lower.
                self.problems.append(
                    f"{name} would be in {', '.join(sorted(set(where)))}, and each copy would hand out the same values "
                    "(duplicate ids; a rollback could carry back the lower one): give it one owner. Give each table "
                    "its own sequence before the split (ALTER TABLE ... ALTER COLUMN ... SET DEFAULT nextval(...)), "
                    "or map the tables that use it to services sharing one database")
                continue
            if fate in ("free", "across", "schema"):
                why = "needed there (by a column, default, check, trigger or another object)"
            fates.append({"object": name, "targets": sorted(set(where)), "fate": why})
        return fates


def endpoint_id(endpoint):
    """The server of an endpoint: its container, or host:port."""
    return endpoint.get("container") or f'{endpoint["host"]}:{endpoint.get("port", 5432)}'


def target_key(endpoint):
    """What tells target databases apart everywhere (plan, endpoints, restores, proof,
    report): the server and the database, as two services may each have a database of the
    same name on their own server."""
    return f'{endpoint_id(endpoint)}/{endpoint["database"]}'


def target_labels(endpoints):
    """{target key: label}: the database's name, followed by its server when another target's
    database has the same name."""
    names = [endpoint["database"] for endpoint in {target_key(e): e for e in endpoints}.values()]
    return {target_key(e): e["database"] + (f" on {endpoint_id(e)}" if names.count(e["database"]) > 1 else "")
            for e in endpoints}


def group_targets(services):
    """Group services by target database: services sharing one restore together.

    ``services`` maps a service name to ``{"tables": [...], "endpoint": {...}}``; a target
    is identified by target_key, and named for people by its label (target_labels).
    """
    grouped = {}
    for name, spec in sorted(services.items()):
        if not isinstance(spec, dict) or "tables" not in spec or "endpoint" not in spec:
            raise MapError(f"service '{name}' needs 'tables' and 'endpoint' in dbsplit_services")
        endpoint = spec["endpoint"]
        if "database" not in endpoint or not ("container" in endpoint or "host" in endpoint):
            raise MapError(f"service '{name}': its endpoint needs 'database' and either 'container' or 'host'")
        key = target_key(endpoint)
        target = grouped.setdefault(key, {"key": key, "database": endpoint["database"], "endpoint": endpoint,
                                          "services": {}})
        if target["endpoint"] != endpoint:
            raise MapError(f"services {sorted(target['services'])} and '{name}' share database "
                           f"{endpoint['database']} on {endpoint_id(endpoint)} but describe its endpoint differently")
        target["services"][name] = list(spec["tables"])
    labels = target_labels([t["endpoint"] for t in grouped.values()])
    for target in grouped.values():
        target["label"] = labels[target["key"]]
    return sorted(grouped.values(), key=lambda t: (t["database"], t["key"]))


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


def build_plan(snapshot, services, left_behind=(), large_objects_service=None, objects_left_behind=()):
    """The whole plan: targets, tables and objects left behind, every object's fate,
    problems, and a stable hash.

    ``large_objects_service`` names the service whose target receives the source's large
    objects; its target's "large_objects" is {count, bytes, note}, every other's None.
    """
    catalog = Catalog(snapshot)
    targets = group_targets(services)
    problems, owner = validate_map(catalog, targets, left_behind)
    large_objects = snapshot["large_objects"]
    problems.extend(large_object_problems(large_objects, large_objects_service, services))
    left = sorted(q for q, rel in catalog.tables.items() if not rel["parent"] and q not in owner)
    fates = Fates(catalog, targets, owner, services, objects_left_behind)
    planned = []
    for index, target in enumerate(targets):
        tplan, tproblems = plan_target(catalog, target, owner, fates.extra_roots[index])
        receives = bool(large_objects["count"]) and large_objects_service in target["services"]
        tplan["large_objects"] = dict(large_objects) if receives else None
        planned.append(tplan)
        problems.extend(tproblems)
    objects = fates.resolve([set(t["objects"]) for t in planned])
    problems.extend(fates.problems)
    plan = {
        "source_database": snapshot["database"],
        "source_server_version": snapshot["server_version"],
        "source_bytes": snapshot.get("bytes", 0),
        "source_large_objects": dict(large_objects, service=large_objects_service),
        "targets": planned,
        "left_behind": left,
        "objects": objects,
        "problems": problems,
    }
    plan["hash"] = plan_hash(plan)
    return plan


def planned_tables(plan):
    """Every table the plan accounts for: each target's tables and their partitions, and the
    tables left behind. A table of the source that is none of these was created after the plan."""
    names = set(plan.get("left_behind") or [])
    for target in plan["targets"]:
        for table in target["tables"]:
            names.add(table["name"])
            names.update(table["partitions"])
    return sorted(names)


def plan_hash(plan):
    """Hash of what the plan moves, by name (not OID): equal plans give equal hashes."""
    canonical = {
        "source": plan["source_database"],
        "targets": [{"key": t["key"], "services": t["services"], "tables": t["tables"],
                     "objects": sorted(object_name(o) for o in t["objects"].values()),
                     "dropped": t["dropped_foreign_keys"],
                     "large_objects": t["large_objects"] is not None} for t in plan["targets"]],
        "fates": plan["objects"],
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()[:16]
