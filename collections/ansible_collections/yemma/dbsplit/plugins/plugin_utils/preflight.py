"""The preflight's findings: every problem (with its fix) and warning, from what the modules read.

The preflight's tasks only read (the host, the source, the map against the source's catalog,
the running targets); these functions turn what they read into the one list the operator gets,
before anything changes. ``host_findings`` needs the host alone (install.yml shares it);
``findings`` adds the source, the plan and the targets.

``s`` is the settings: the dbsplit_* variables the checks read (group_vars and role defaults).
A read that a task skipped is an Ansible result with ``skipped: true``, or None.
"""

import os

from ansible_collections.yemma.dbsplit.plugins.plugin_utils import disk, privileges, settings, versions

# community.docker.docker_compose_v2 needs Compose 2.18 or later.
COMPOSE_MIN_VERSION = "2.18.0"


def _done(result):
    """The module's result, or None when its task was skipped (or never ran)."""
    return None if not result or result.get("skipped") else result


def _version(text):
    return tuple(int(part) for part in text.split(".")[:3] if part.isdigit())


def host_findings(s, host, env_keys, for_install=False):
    """Problems of the host: Docker and Compose, the compose files, the .env keys, the images,
    and for a migration the network and the map against both compose files. install.yml
    (``for_install``) reads the new compose file only, and sets ``s`` to dbsplit_project_dir,
    dbsplit_compose_project, dbsplit_compose_file, dbsplit_env_file and the .env keys' names."""
    problems = list(host["problems"])
    compose = host["compose_version"]
    if compose["rc"] != 0 or _version(compose["version"].lstrip("v")) < _version(COMPOSE_MIN_VERSION):
        problems.append(f"Docker Compose v2 >= {COMPOSE_MIN_VERSION} is required (docker compose version: "
                        f"{compose['error']}): install the docker compose plugin")
    for name, present in sorted(host["files"].items()):
        if not present:
            fix = ("deploy the release" if name == s["dbsplit_compose_file"]
                   else "keep the compose file the platform runs from today")
            problems.append(f"{s['dbsplit_project_dir']}/{name} is missing: {fix}"
                            + ("" if for_install else " (see dbsplit_compose_file / dbsplit_monolith_compose_file)"))
    for key in (s["dbsplit_env_user_key"], s["dbsplit_env_password_key"]):
        if key not in env_keys:
            reader = "the compose file creates the databases with it" if for_install else "the compose files and this tool read it"
            problems.append(f"{s['dbsplit_project_dir']}/{s['dbsplit_env_file']} has no {key}: add {key}=... ({reader})")
    if not for_install and not host["network_exists"]:
        problems.append(f"network {s['dbsplit_network']} does not exist, and the compose files join it as external: check "
                        f"dbsplit_network, or create it (docker network create {s['dbsplit_network']})")
    stacks = host["configs"]
    new_stack = stacks.get(s["dbsplit_compose_file"])
    if not for_install:
        problems += settings.compose_problems(s["dbsplit_services"], s["dbsplit_source"], s["dbsplit_backend_services"],
                                              s["dbsplit_infrastructure_services"], s["dbsplit_compose_project"], new_stack,
                                              stacks.get(s["dbsplit_monolith_compose_file"]))
        if new_stack is not None:
            problems += settings.service_database_problems(s["dbsplit_services"], new_stack, s["dbsplit_service_database_env"],
                                                           s["dbsplit_db_user"], s["dbsplit_compose_file"])
    problems += settings.image_problems(settings.compose_images(s["dbsplit_compose_project"], stacks), host["images"])
    return problems


def dump_findings(s, host):
    """Option A, before its scratch server is started: the dump file is there, and Docker's
    disk can take what it restores to."""
    size = host.get("dump_file_bytes")
    if size is None:
        return []  # the dump source module names a missing file itself, with the fix
    need = [{"what": "Option A's scratch server", "path": f"{host['docker_root']}/volumes",
             "bytes": int(size * s["dbsplit_dump_expansion_factor"])}]
    return disk.problems(need, host["free_space"])


def findings(s, host, env_keys, endpoints, recorded, reads):
    """{problems, warnings, memory} of the whole preflight. ``reads``: what the preflight's
    tasks read, by name: dump_source, ping, freeze, subscriber, publisher, plan, targets, login
    (each a module's result, or skipped)."""
    stage = recorded["stage"]
    source = s["dbsplit_source"]
    is_dump = "dump_file" in source
    problems = host_findings(s, host, env_keys)
    warnings = []
    dump = _done(reads.get("dump_source"))
    if is_dump and stage not in ("completed", "finished"):
        problems += dump_findings(s, host)
        if dump and dump.get("sha256") is None and dump.get("msg"):
            problems.append(dump["msg"])
        elif dump:
            warnings.append(f"the source is the dump file {source['dump_file']}: rows written to the monolith after it was "
                            "taken are not migrated (the stop phase stops the services; take the dump after that, or use "
                            "the live source)")
    if not endpoints["source"]["running"] and not (is_dump and (stage in ("completed", "finished") or dump)):
        problems.append(f"source {endpoints['source']['id']} is not running: start the monolith database (docker compose "
                        f"-f {s['dbsplit_monolith_compose_file']} up -d {source.get('compose_service', '<service>')})")
    ping = _done(reads.get("ping"))
    if ping and not ping.get("is_available"):
        reason = " ".join(str(ping.get("conn_err_msg", "")).split())
        problems.append(f"cannot log in to {source['database']} on {endpoints['source']['id']} as {s['dbsplit_db_user']}: "
                        f"{reason} - check DB_USER / DB_PASSWORD in {s['dbsplit_env_file']}")
    freeze = _done(reads.get("freeze"))
    if freeze:
        problems += freeze.get("problems", [])
    subscriber = _done(reads.get("subscriber"))
    if subscriber and subscriber.get("settings_by_hand"):
        problems += [f"the reverse stream: {problem}" for problem in subscriber["settings_by_hand"]]
    elif subscriber and subscriber.get("restart_needed") and "compose_service" not in source:
        problems.append(f"the monolith's server needs {'; '.join(subscriber['changes'])} for the reverse stream, and a "
                        "restart, which this tool makes only for a source with a compose_service: set them (ALTER SYSTEM) "
                        "and restart it, or set dbsplit_reverse_stream: false (a rollback after the cutover then loses what "
                        "the services wrote)")
    if stage == "migrating" and recorded["mode"] is not None and recorded["mode"] != s["dbsplit_mode"]:
        problems.append(f"this migration runs in {recorded['mode']} mode since run {recorded['runs']['stop']['run_id']}: keep "
                        f"dbsplit_mode: {recorded['mode']}, or go back (rollback.yml) and start again in the other")
    if s["dbsplit_mode"] == "online" and is_dump:
        problems.append("online mode copies from the live monolith while it serves; a dump file (Option A) cannot serve: "
                        "use dbsplit_mode: offline")
    publisher = _done(reads.get("publisher"))
    if publisher and publisher.get("settings_by_hand"):
        problems += [f"online mode: {problem}" for problem in publisher["settings_by_hand"]]
    elif publisher and publisher.get("restart_needed") and not (s["dbsplit_monolith_restart"] and "compose_service" in source):
        changes = "; ".join(change for change in publisher["changes"] if "restart" in change)
        fix = ("run again with -e dbsplit_monolith_restart=true and the stop phase makes it, or set them yourself (ALTER "
               "SYSTEM SET ...) and restart it" if "compose_service" in source
               else "set them (ALTER SYSTEM SET ...) and restart it, this tool restarts only a source with a compose_service")
        problems.append(f"online mode: the server of {source['database']} needs {changes}, which takes a restart of its "
                        f"postgres (the old services lose their connections for a few seconds). Schedule it: {fix}; or use "
                        "dbsplit_mode: offline")
    source_login = _done(reads.get("login"))
    if source_login:
        problems += privileges.source_problems(source_login["servers"][source["database"]], s["dbsplit_mode"],
                                               s["dbsplit_reverse_stream"] and not is_dump)
    plan_read = _done(reads.get("plan"))
    if plan_read:
        problems += plan_read["problems"]
    target_states = (_done(reads.get("targets")) or {}).get("targets", {})
    problems += versions_problems(source, endpoints, ping, target_states, host)
    if stage == "migrating":
        for key, target in sorted(endpoints["targets"].items()):
            if target["exists"] and not target["running"] and key not in recorded["returned"]:
                problems.append(f"target {target['label']}: container {target['id']} exists but is stopped, so what it holds "
                                "cannot be checked (after a rollback it may hold writes made since a cutover): start it "
                                f"(docker compose -f {s['dbsplit_compose_file']} up -d --wait "
                                f"{target.get('compose_service') or '<service>'}) and run again, or remove it with its "
                                "volume if nothing in it is needed")
    problems += [f"target {state['label']} {state['problem']}" for _key, state in sorted(target_states.items())
                 if state["action"] == "refuse"]
    warnings += [f"target {state['label']} does not exist on its server: the provision phase creates it (CREATE DATABASE, "
                 f"owned by {s['dbsplit_db_user']})" for _key, state in sorted(target_states.items()) if state["action"] == "create"]
    new_stack = host["configs"].get(s["dbsplit_compose_file"])
    if plan_read and stage == "migrating" and new_stack is not None:
        kept = {key for key, state in target_states.items() if state["action"] == "keep"}
        backup_bytes = 0 if "backup" in recorded["done"] else plan_read["plan"]["source_bytes"] * s["dbsplit_backup_space_factor"]
        needs = disk.needs(plan_read["plan"], set(endpoints["targets"]) - kept, new_stack, host["docker_root"],
                           os.path.dirname(s["dbsplit_state_dir"].rstrip("/")), backup_bytes, s["dbsplit_target_space_factor"],
                           s["dbsplit_target_base_mb"] * 1048576)
        problems += disk.problems(needs, host["free_space"])
    memory = memory_figures(new_stack, host["memtotal_mb"]) if new_stack is not None else None
    if memory and memory["percent"] > s["dbsplit_memory_warning_percent"]:
        warnings.append(f"memory limits of the new stack add up to {memory['limits_mb']} MB, {memory['percent']} % of the "
                        f"host RAM ({memory['host_mb']} MB); the runbook plans 4-5 GB on 8 GB")
    return {"problems": problems, "warnings": warnings, "memory": memory}


def versions_problems(source, endpoints, ping, target_states, host):
    """The source as its server reports it; each new database as its running server reports it,
    else as its compose service's image does (provision has not started it yet)."""
    monolith = {"what": f"the source {source['database']}", "version": ((ping or {}).get("server_version") or {}).get("full"),
                "where": endpoints["source"]["id"]}
    targets = []
    for key, target in sorted(endpoints["targets"].items()):
        running = (target_states.get(key) or {}).get("server_version")
        image = host["postgres_versions"].get(target.get("compose_service") or "")
        targets.append({"what": f"the new database {target['label']}", "version": running or image,
                        "where": target["id"] if running else f"the image of compose service {target.get('compose_service')}"})
    return versions.problems(monolith, targets)


def memory_figures(stack, host_mb):
    """The new stack's containers' memory limits against the host's RAM."""
    services = stack.get("services", {})
    limits = sum(int(service.get("mem_limit", 0)) for service in services.values())
    limits_mb = round(limits / 1048576)
    return {"limits_mb": limits_mb, "host_mb": host_mb, "percent": round(limits_mb * 100 / host_mb, 1),
            "unlimited": sorted(name for name, service in services.items() if "mem_limit" not in service)}


def install_findings(s, host, env_keys, endpoints, recorded, monolith, targets, environment):
    """Every problem that stops install.yml before any change: a migration recorded on this host,
    the host (as host_findings), a monolith that holds data or cannot be read, a new database's
    container that exists but is stopped, and what each running one holds (``targets``: the
    dbsplit_schema_info results, each naming its problems). ``monolith``: its schema_info, or
    None when its container does not run."""
    problems = []
    if recorded["runs"]:
        problems.append(f"a migration of {s['dbsplit_source']['database']} is recorded in {s['dbsplit_state_dir']} (stage "
                        f"{recorded['stage']}): this platform is migrated, not installed; migrate.yml and rollback.yml carry "
                        "on from there")
    problems += host_findings(s, host, env_keys, for_install=True)
    container = s["dbsplit_source"].get("container")
    if container and endpoints["source"]["exists"]:
        if not endpoints["source"]["running"]:
            problems.append(f"the monolith's container {container} exists but is stopped, so whether it holds data cannot be "
                            f"read: start it (docker start {container}) to let the installation check it, migrate it "
                            "(migrate.yml), or remove it with its volume if it holds nothing")
        elif monolith and monolith["data"]:
            examples = ", ".join(table["table"] for table in monolith["data"][:3])
            problems.append(f"the monolith {container} holds data in {s['dbsplit_source']['database']} "
                            f"({len(monolith['data'])} tables with rows, e.g. {examples}): an installation would start the "
                            "services on empty databases beside it. Migrate it: ansible-playbook migrate.yml -l "
                            f"{environment}")
    for _key, target in sorted(endpoints["targets"].items()):
        if target["exists"] and not target["running"]:
            problems.append(f"{target['label']}: its container exists but is stopped, so what it holds cannot be read: start "
                            f"it (docker compose -f {s['dbsplit_compose_file']} up -d --wait "
                            f"{target.get('compose_service') or target['id']}) and run again, or remove it with its volume if "
                            "it holds nothing")
    for result in targets:
        problems += result.get("problems", [])
    return problems


def summary(found):
    """The preflight's one line, with its warnings."""
    return "no problem found" + "".join(f"; warning: {warning}" for warning in found["warnings"])
