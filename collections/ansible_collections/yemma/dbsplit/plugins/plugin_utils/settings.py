"""The operator's settings (group_vars, inventory, -e) checked as data, before anything runs.

Every problem is a sentence that names the setting and the fix; the run refuses with all of
them at once, before the lock is taken and before any change. What only the host can tell
(a container that does not exist, a login refused) is the preflight's.
"""

import re

from ansible_collections.yemma.dbsplit.plugins.module_utils import host, plan

# No user or password: the credentials live in the .env only (dbsplit_env_*_key), never in the map.
ENDPOINT_KEYS = {"container", "compose_service", "database", "host", "port", "tools_image", "tools_network",
                 "memory_limit"}
SECRET_KEYS = {"user", "password"}
SOURCE_KEYS = {"container", "compose_service", "database", "dump_file", "tools_image", "scratch_container",
               "host", "port", "tools_network"}
SERVICE_KEYS = {"tables", "endpoint", "alembic", "objects"}
ALEMBIC_KEYS = {"args", "env", "version_table"}
# PostgreSQL's limit on a name (NAMEDATALEN - 1 bytes).
NAME_BYTES = 63
# Docker's container and compose service names.
DOCKER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
# Integer settings: (lowest, highest, what it is). Ranges a 2-core, 8 GB VPS can take.
INTEGERS = {
    "dbsplit_restore_jobs": (1, 16, "pg_restore jobs per target"),
    "dbsplit_verify_jobs": (1, 16, "scans at once in a proof"),
    "dbsplit_dump_source_jobs": (1, 16, "pg_restore jobs loading a dump file"),
    "dbsplit_backup_compress_level": (0, 9, "pg_dump compression level"),
    "dbsplit_restore_timeout": (60, 7 * 86400, "seconds a restore may take"),
    "dbsplit_wait_timeout": (10, 3600, "seconds to wait for containers"),
    "dbsplit_alembic_timeout": (10, 86400, "seconds each Alembic command may take"),
    "dbsplit_memory_warning_percent": (1, 100, "percent of RAM"),
    "dbsplit_target_base_mb": (0, 1 << 20, "MB of an empty cluster"),
    "dbsplit_reverse_wal_keep_mb": (64, 1 << 20, "MB of WAL a reverse stream's slot may hold"),
    "dbsplit_reverse_catchup_timeout": (10, 86400, "seconds a rollback waits for the reverse stream"),
    "dbsplit_max_lag": (0, 1 << 40, "bytes of WAL the online copies may lag when the services stop"),
    "dbsplit_online_copy_timeout": (60, 7 * 86400, "seconds to wait for the online copies and their lag"),
    "dbsplit_online_catchup_timeout": (10, 3600, "seconds the cutover waits for the last changes"),
    "dbsplit_online_slots_per_target": (1, 16, "slots an online copy takes on the monolith's server"),
    "dbsplit_online_copy_jobs": (1, 16, "parts of tables the online copy copies at once"),
    "dbsplit_online_build_targets": (1, 64, "targets whose indexes the online transfer builds at once"),
    "dbsplit_online_part_mb": (0, 1 << 20, "MB above which the online copy splits a table in parts"),
    "dbsplit_online_proof_timeout": (60, 7 * 86400, "seconds the proof at the cutover may take"),
    "dbsplit_diff_sample_keys": (0, 10000, "keys named per kind of difference of a table"),
    "dbsplit_verify_stream_timeout": (1, 86400, "seconds verify.yml waits for a stream to catch up"),
    "dbsplit_verify_timeout": (60, 7 * 86400, "seconds verify.yml's comparison may take"),
}
# Numbers that need not be whole (multiples of a size for the disk space estimates; the online
# copy's back-pressure limits): (lowest, highest).
FACTORS = {
    "dbsplit_backup_space_factor": (0.1, 20),
    "dbsplit_target_space_factor": (1, 20),
    "dbsplit_dump_expansion_factor": (1, 50),
    "dbsplit_online_max_load_per_core": (0, 64),
    "dbsplit_online_max_standby_lag": (0, 86400),
}
STRINGS = ("dbsplit_project_dir", "dbsplit_compose_file", "dbsplit_monolith_compose_file", "dbsplit_compose_project",
           "dbsplit_env_file", "dbsplit_env_user_key", "dbsplit_env_password_key", "dbsplit_network",
           "dbsplit_state_dir", "dbsplit_tool_name")
LISTS = ("dbsplit_backend_services", "dbsplit_infrastructure_services", "dbsplit_tables_left_behind",
         "dbsplit_objects_left_behind", "dbsplit_replica_identity_full")
# Every setting ``problems`` reads: only these are read before the run starts (the run's own
# variables, such as the lock's verdict, are not settings and cannot be read yet).
NAMES = frozenset(STRINGS + LISTS + tuple(INTEGERS) + tuple(FACTORS) + (
    "dbsplit_on_failure", "dbsplit_reverse_stream", "dbsplit_mode", "dbsplit_service_database_env", "dbsplit_source",
    "dbsplit_services", "dbsplit_large_objects_service"))


def setting_names(candidates):
    """The names among ``candidates`` (the dbsplit_* variables defined) that are settings."""
    return sorted(name for name in candidates if name in NAMES)


def _is_int(value):
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.strip().lstrip("-").isdigit()


def _is_number(value):
    if isinstance(value, bool):
        return False
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _unknown(keys, known, where, fix):
    return [f"{where} has an unknown key {key!r} ({fix}: one of {', '.join(sorted(known))})"
            for key in sorted(set(keys) - known)]


def _name_problems(value, where):
    if not isinstance(value, str) or not value.strip():
        return [f"{where} must be a non-empty name (got {value!r})"]
    if len(value.encode()) > NAME_BYTES:
        return [f"{where} {value!r} is longer than PostgreSQL's {NAME_BYTES}-byte limit on names: shorten it"]
    return []


def _docker_name(value, where):
    if not isinstance(value, str) or not DOCKER_NAME.match(value):
        return [f"{where} must be a Docker name (letters, digits, _ . -), got {value!r}"]
    return []


def endpoint_problems(endpoint, where, keys=ENDPOINT_KEYS):
    if not isinstance(endpoint, dict):
        return [f"{where} must be a mapping such as {{container: ..., database: ..., compose_service: ...}} "
                f"or {{host: ..., port: 5432, database: ..., tools_image: ...}} (got {endpoint!r})"]
    problems = [f"{where} has {key}: the credentials come from the .env only (dbsplit_env_user_key, "
                f"dbsplit_env_password_key), never from the map (group_vars are no place for a password): remove it"
                for key in sorted(SECRET_KEYS & set(endpoint))]
    problems += _unknown(set(endpoint) - SECRET_KEYS, keys, where, "fix the spelling")
    if "database" not in endpoint:
        problems.append(f"{where} has no database: add database: <name of the database>")
    else:
        problems += _name_problems(endpoint["database"], f"{where}.database")
    if ("container" in endpoint) == ("host" in endpoint):
        problems.append(f"{where} needs exactly one of container (a container on the host) or host (a server by address)")
    if "container" in endpoint:
        problems += _docker_name(endpoint["container"], f"{where}.container")
    if "compose_service" in endpoint:
        problems += _docker_name(endpoint["compose_service"], f"{where}.compose_service")
    if "host" in endpoint and "tools_image" not in endpoint:
        problems.append(f"{where} is a server by address: add tools_image (a postgres image whose pg_dump/pg_restore "
                        "match its version, e.g. postgres:15)")
    if "port" in endpoint and not (_is_int(endpoint["port"]) and 1 <= int(endpoint["port"]) <= 65535):
        problems.append(f"{where}.port must be a TCP port, 1 to 65535 (got {endpoint['port']!r})")
    return problems


def source_problems(source):
    where = "dbsplit_source"
    if not isinstance(source, dict):
        return [f"{where} must be a mapping (got {source!r})"]
    if "dump_file" not in source:
        return endpoint_problems(source, where, SOURCE_KEYS)
    problems = _unknown(source, SOURCE_KEYS, where, "fix the spelling")
    for key in ("database", "tools_image", "scratch_container"):
        if key not in source:
            problems.append(f"{where} serves a dump file (Option A): add {key} (see group_vars/all/main.yml)")
    if not str(source["dump_file"]).startswith("/"):
        problems.append(f"{where}.dump_file must be an absolute path on the host (got {source['dump_file']!r})")
    return problems


def service_problems(name, spec):
    where = f"dbsplit_services.{name}"
    if not isinstance(spec, dict):
        return [f"{where} must be a mapping with tables and endpoint (got {spec!r})"]
    problems = _unknown(spec, SERVICE_KEYS, where, "fix the spelling")
    tables = spec.get("tables")
    if not isinstance(tables, list) or not tables:
        problems.append(f"{where}.tables must be a non-empty list of tables (schema.table, or table for public)")
    else:
        for table in tables:
            if not isinstance(table, str) or not table.strip():
                problems.append(f"{where}.tables has {table!r}: each entry is a table name such as public.users")
    objects = spec.get("objects", [])
    if not isinstance(objects, list) or not all(isinstance(o, str) and " " in o.strip() for o in objects):
        problems.append(f"{where}.objects must be a list of objects named as the plan names them, type and identity "
                        f"(e.g. 'function public.slugify(pg_catalog.text)'; got {objects!r})")
    if "endpoint" not in spec:
        problems.append(f"{where} has no endpoint: add endpoint: {{container: ..., database: ..., compose_service: ...}}")
    else:
        problems += endpoint_problems(spec["endpoint"], f"{where}.endpoint")
    alembic = spec.get("alembic")
    if alembic is not None:
        if not isinstance(alembic, dict):
            problems.append(f"{where}.alembic must be a mapping {{args: [], env: {{}}, version_table: ...}} (got {alembic!r})")
        else:
            problems += _unknown(alembic, ALEMBIC_KEYS, f"{where}.alembic", "fix the spelling")
            if not isinstance(alembic.get("args", []), list):
                problems.append(f"{where}.alembic.args must be a list of arguments (got {alembic.get('args')!r})")
            if not isinstance(alembic.get("env", {}), dict):
                problems.append(f"{where}.alembic.env must be a mapping of variables (got {alembic.get('env')!r})")
            if "version_table" not in alembic:
                problems.append(f"{where}.alembic has no version_table: add the table `alembic stamp head` fills")
    return problems


def map_problems(services, source):
    """Problems across services: one endpoint per target database (a database on a server),
    one compose service per container, no target on the source's server, no target's
    container as Option A's scratch."""
    problems = []
    by_target = {}
    for name, spec in services.items():
        endpoint = spec.get("endpoint") if isinstance(spec, dict) else None
        if isinstance(endpoint, dict) and isinstance(endpoint.get("database"), str) \
                and isinstance(endpoint.get("container") or endpoint.get("host"), str):
            by_target.setdefault((endpoint["database"], plan.endpoint_id(endpoint)), []).append((name, endpoint))
    for (database, where), users in sorted(by_target.items()):
        places = {(e.get("container"), e.get("host"), e.get("port"), e.get("compose_service")) for _, e in users}
        if len(places) > 1:
            problems.append(f"target database {database} on {where} is given different endpoints by services "
                            f"{', '.join(n for n, _ in users)}: services sharing a database must give the same endpoint "
                            "(container, host, port, compose_service)")
    containers = {}
    for name, spec in services.items():
        endpoint = spec.get("endpoint") if isinstance(spec, dict) else None
        if isinstance(endpoint, dict) and "container" in endpoint:
            containers.setdefault(endpoint["container"], set()).add(endpoint.get("compose_service"))
    for container, compose_services in sorted(containers.items()):
        if len(compose_services) > 1:
            problems.append(f"container {container} is given different compose services "
                            f"({', '.join(sorted(map(str, compose_services)))}): one container is one compose service")
    if isinstance(source, dict) and source.get("container") in containers:
        problems.append(f"container {source['container']} is both the source and a target's server: rollback stops "
                        "the targets' servers, so each target needs its own container")
    scratch = source.get("scratch_container") if isinstance(source, dict) else None
    if scratch in containers:
        problems.append(scratch_problem(scratch))
    return problems


def scratch_problem(scratch):
    return (f"dbsplit_source.scratch_container {scratch!r} is a container of the platform: the scratch server is "
            "removed after the run, so give it a name of its own (e.g. yemma-dbsplit-source)")


def environment_problems(limited, environments, known, hosts, playbook):
    """A run targets exactly one environment, named with -l (every environment's inventory is
    loaded). ``environments``: those of the hosts this run targets (None for a host without
    dbsplit_environment); ``known``: every environment of the inventory."""
    if limited and len(environments) == 1 and None not in environments:
        return []
    targets = ("has no -l" if not limited else f"targets {', '.join(hosts)} (environments: "
               + ", ".join(env or "none set" for env in environments) + ")")
    return [f"a run targets exactly one environment, named with -l: ansible-playbook {playbook} -l <environment> "
            f"(environments: {', '.join(known)}). This run {targets}; the hosts of each environment set dbsplit_environment "
            "in inventories/<env>/group_vars. Nothing was changed."]


def problems(settings):
    """Every problem in ``settings`` (the dbsplit_* variables as the run sees them)."""
    found = []
    for key in STRINGS:
        if key in settings and (not isinstance(settings[key], str) or not settings[key].strip()):
            found.append(f"{key} must be a non-empty string (got {settings[key]!r})")
    for key, (low, high, what) in INTEGERS.items():
        if key in settings and not (_is_int(settings[key]) and low <= int(settings[key]) <= high):
            found.append(f"{key} ({what}) must be a whole number from {low} to {high} (got {settings[key]!r})")
    for key, (low, high) in FACTORS.items():
        if key in settings and not (_is_number(settings[key]) and low <= float(settings[key]) <= high):
            found.append(f"{key} must be a number from {low} to {high} (got {settings[key]!r})")
    if settings.get("dbsplit_on_failure", "return") not in ("return", "stay"):
        found.append(f"dbsplit_on_failure must be return (put the platform back on the monolith) or stay "
                     f"(got {settings['dbsplit_on_failure']!r})")
    if not isinstance(settings.get("dbsplit_reverse_stream", True), bool):
        found.append("dbsplit_reverse_stream must be true (writes made after the cutover flow back to the monolith, "
                     f"so a rollback loses nothing) or false (got {settings['dbsplit_reverse_stream']!r})")
    mode = settings.get("dbsplit_mode", "offline")
    if mode not in ("offline", "online"):
        found.append(f"dbsplit_mode is {mode!r}: it is offline (the services stop for the whole copy) or online (the copy "
                     "runs while they serve)")
    elif mode == "online" and settings.get("dbsplit_reverse_stream", True) is False:
        found.append("dbsplit_mode: online needs dbsplit_reverse_stream: true: online mode proves the copy while the new "
                     "services already serve, and only the reverse stream can take the platform back without losing what "
                     "they wrote if that proof finds a difference (or use dbsplit_mode: offline)")
    for key in LISTS:
        value = settings.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            found.append(f"{key} must be a list of names (got {value!r})")
    env_keys = settings.get("dbsplit_service_database_env", {"host": "", "database": "", "user": ""})
    if not isinstance(env_keys, dict) or set(env_keys) != {"host", "database", "user"} \
            or not all(isinstance(v, str) and v.strip() for v in env_keys.values()):
        found.append("dbsplit_service_database_env must name the variables {host: ..., database: ..., user: ...} through "
                     f"which a compose service names its database (got {env_keys!r})")
    source = settings.get("dbsplit_source")
    found += source_problems(source)
    services = settings.get("dbsplit_services")
    if not isinstance(services, dict) or not services:
        found.append("dbsplit_services must map each service to {tables, endpoint} (see group_vars/all/main.yml)")
        return found
    for name, spec in services.items():
        found += service_problems(name, spec)
    found += map_problems(services, source)
    found += large_objects_service_problems(settings.get("dbsplit_large_objects_service"), services)
    return found


def large_objects_service_problems(service, services):
    """dbsplit_large_objects_service: unset (null), or a service of the map."""
    if service is None or (isinstance(service, str) and service in services):
        return []
    return [f"dbsplit_large_objects_service must name the service of dbsplit_services that receives the source's "
            f"large objects ({', '.join(sorted(services))}), or be null when the source has none (got {service!r})"]


def compose_container(project, name, service):
    """The container compose creates for ``service`` of a `docker compose config` JSON."""
    return service.get("container_name") or f"{project}-{name}-1"


def compose_problems(services, source, backend, infrastructure, project, new_stack, old_stack):
    """The map against the two compose files (``docker compose config --format json`` of each,
    None when the file is missing): each endpoint's compose_service exists and creates the
    container the map names, and the launch lists name services that exist."""
    found = []

    def check(endpoint, where, stack, file_role):
        if not isinstance(endpoint, dict) or stack is None:
            return
        declared = stack.get("services", {})
        service = endpoint.get("compose_service")
        if service is None:
            return
        if service not in declared:
            found.append(f"{where}.compose_service {service!r} is not a service of the {file_role} compose file "
                         f"(its services: {', '.join(sorted(declared))}): fix the name")
            return
        created = compose_container(project, service, declared[service])
        if "container" in endpoint and endpoint["container"] != created:
            found.append(f"{where}.container is {endpoint['container']!r}, but compose service {service} creates "
                         f"{created!r}: set container: {created}")

    for name, spec in (services or {}).items():
        if isinstance(spec, dict):
            check(spec.get("endpoint"), f"dbsplit_services.{name}.endpoint", new_stack, "new (dbsplit_compose_file)")
    scratch = source.get("scratch_container") if isinstance(source, dict) else None
    if scratch is not None and any(scratch == compose_container(project, name, service)
                                   for stack in (new_stack, old_stack) if stack
                                   for name, service in stack.get("services", {}).items()):
        found.append(scratch_problem(scratch))
    if isinstance(source, dict) and "dump_file" not in source:
        check(source, "dbsplit_source", old_stack, "monolith (dbsplit_monolith_compose_file)")
    for key, names, stacks in (("dbsplit_backend_services", backend, (("monolith", old_stack), ("new", new_stack))),
                               ("dbsplit_infrastructure_services", infrastructure, (("new", new_stack),))):
        for file_role, stack in stacks:
            if stack is None or not isinstance(names, list):
                continue
            missing = [n for n in names if n not in stack.get("services", {})]
            if missing:
                found.append(f"{key} names {', '.join(map(str, missing))}, not a service of the {file_role} compose file "
                             f"(its services: {', '.join(sorted(stack.get('services', {})))}): fix the list")
    return found


def compose_images(project, stacks):
    """{image: [where it is used]} for every service of the compose files (``{file: docker compose
    config JSON}``). Compose names a built service's image ``<project>-<service>``; a name
    without a tag means ``:latest``."""
    images = {}
    for file, stack in stacks.items():
        for name, service in (stack or {}).get("services", {}).items():
            image = host.tagged(service.get("image") or f"{project}-{name}")
            images.setdefault(image, []).append({"file": file, "service": name, "built": "build" in service})
    return images


def image_problems(images, present):
    """The images of ``compose_images`` not among ``present`` (the RepoTags and RepoDigests of
    the images on the host): each with the command that puts it there before the stop, so the
    downtime is not spent building or pulling (and does not fail on an unreachable registry)."""
    have = set(present)
    found = []
    for image, uses in sorted(images.items()):
        if image in have:
            continue
        use = uses[0]
        verb = "build" if use["built"] else "pull"
        found.append(f"image {image} (service {use['service']} of {use['file']}) is not on the host: "
                     f"docker compose -f {use['file']} {verb} {use['service']}, then run again")
    return found


def service_database_problems(services, stack, env_keys, user, compose_file):
    """Each service of the new compose file (``docker compose config`` JSON) that names a
    database in its environment (``env_keys``: {host, database, user} variable names) must
    connect where the map restores and verifies: a service of the map to its own target, any
    other (a worker) to some target. Otherwise it would start on a database that was never
    proven, and a create_all service would even "heal" it with empty tables."""
    if not stack or not isinstance(services, dict):
        return []
    targets = {}
    for name, spec in services.items():
        endpoint = spec.get("endpoint") if isinstance(spec, dict) else None
        if isinstance(endpoint, dict) and "database" in endpoint:
            hosts = {endpoint.get(key) for key in ("compose_service", "container", "host")} - {None}
            targets.setdefault(endpoint["database"], set()).update(hosts)
    found = []
    for service, config in sorted(stack.get("services", {}).items()):
        env = config.get("environment") or {}
        if env_keys["database"] not in env and env_keys["host"] not in env:
            continue
        host, database, login = env.get(env_keys["host"]), env.get(env_keys["database"]), env.get(env_keys["user"])
        said = f"{env_keys['host']}={host} {env_keys['database']}={database}"
        spec = services.get(service)
        if isinstance(spec, dict) and isinstance(spec.get("endpoint"), dict):
            expected = spec["endpoint"].get("database")
            if database != expected or host not in targets.get(expected, set()):
                found.append(f"compose service {service} in {compose_file} connects to {said}, but the map restores its "
                             f"tables into {expected} on {' / '.join(sorted(targets.get(expected, set())))}: "
                             "fix the compose file or the map")
        elif database not in targets or host not in targets[database]:
            found.append(f"compose service {service} in {compose_file} connects to {said}, which is no target of the map "
                         f"(targets: {', '.join(f'{d} on {sorted(h)[0]}' for d, h in sorted(targets.items()))}): "
                         "fix the compose file or the map")
        if login is not None and login != user:
            found.append(f"compose service {service} in {compose_file} logs in as {env_keys['user']}={login}, not as the "
                         f".env's user {user} the targets are created with: fix the compose file")
    return found


def database_clients(stack, services, service, env_keys):
    """The compose services of ``stack`` (``docker compose config`` JSON) that use the database
    of ``service`` (a name of the map): the services of the map that share it, and any other
    (a worker) whose environment names it. A reset stops and restarts them all."""
    endpoint = services[service]["endpoint"]
    hosts = {endpoint.get(key) for key in ("compose_service", "container", "host")} - {None}
    clients = {name for name, spec in services.items() if spec["endpoint"] == endpoint}
    for name, config in (stack or {}).get("services", {}).items():
        env = config.get("environment") or {}
        if env.get(env_keys["database"]) == endpoint["database"] and env.get(env_keys["host"]) in hosts:
            clients.add(name)
    return sorted(clients)


def new_database_clients(stack, services, env_keys, backend):
    """Every compose service of the new stack (``docker compose config`` JSON) that connects to a
    new database: the backend services and any other (a worker) whose environment names one.
    A rollback stops them all: one left running would write after its reverse stream is gone."""
    clients = set(backend)
    for service in services:
        clients.update(database_clients(stack, services, service, env_keys))
    return sorted(clients)


def services_sharing(services, service):
    """The services of the map whose tables are in the same database as ``service``'s."""
    endpoint = services[service]["endpoint"]
    return sorted(name for name, spec in services.items() if spec["endpoint"] == endpoint)
