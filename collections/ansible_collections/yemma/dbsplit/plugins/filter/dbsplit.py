"""Filters that turn inventory data and Docker facts into module arguments, and results into reports."""

import json

from ansible_collections.yemma.dbsplit.plugins.module_utils import audit, online, plan, reverse, schema, target, verify
from ansible_collections.yemma.dbsplit.plugins.plugin_utils import outcomes, privileges
from ansible_collections.yemma.dbsplit.plugins.plugin_utils.outcomes import (object_fate_lines, online_late, plan_lines,
                                                                             reverse_result_line)


def parse_env(text):
    """KEY=VALUE lines of a compose .env file into a dict (comments, blanks and quotes handled)."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key = key.strip()
        if key.startswith("export "):
            key = key[len("export "):].strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def target_endpoints(services):
    """{target key: endpoint}, one per target database (plan.target_key)."""
    return {plan.target_key(spec["endpoint"]): spec["endpoint"] for _name, spec in sorted(services.items())}


def parse_inspect(stdout):
    """{container name: {running, image, memory, networks}} from `docker container inspect`
    printed with the endpoints role's dbsplit_inspect_format (one tab-separated line per
    container: only what an endpoint needs, never the environment and its password)."""
    found = {}
    for line in stdout.splitlines():
        if not line.strip():
            continue
        name, running, image, memory, networks = line.split("\t")
        found[name.lstrip("/")] = {"running": running == "true", "image": image, "memory": int(memory),
                                   "networks": json.loads(networks)}
    return found


def resolve_endpoint(endpoint, infos, network, user, password, tool_name):
    """Connection (for psycopg on the host) and runtime (for tools containers) of an endpoint.

    ``infos`` is what parse_inspect returned. A container endpoint is reached from the host
    at its IP on ``network``, and by the tools container by name.
    """
    credentials = {"login_user": user, "login_password": password, "tool_name": tool_name}
    if "container" in endpoint:
        container = infos.get(endpoint["container"])
        if not container or not container["running"]:
            return {"running": False, "exists": bool(container), "id": plan.endpoint_id(endpoint),
                    "database": endpoint["database"]}
        networks = container["networks"]
        net = network if network in networks else sorted(networks)[0]
        connection = dict(credentials, login_host=networks[net]["IPAddress"], login_port=5432,
                          db=endpoint["database"])
        runtime = dict(connection, tools_image=container["image"], tools_network=net,
                       tools_host=endpoint["container"], memory_limit=container["memory"])
    else:
        connection = dict(credentials, login_host=endpoint["host"], login_port=endpoint.get("port", 5432),
                          db=endpoint["database"])
        runtime = dict(connection, tools_image=endpoint["tools_image"],
                       tools_network=endpoint.get("tools_network", "host"), tools_host=endpoint["host"],
                       memory_limit=endpoint.get("memory_limit", 0))
    return {"running": True, "exists": True, "id": plan.endpoint_id(endpoint), "database": endpoint["database"],
            "connection": connection, "runtime": runtime}


def source_endpoint(source):
    """The endpoint the phases read as the source: a dump file (Option A) is served by its
    scratch server, a container like any other."""
    if "dump_file" in source:
        return {"container": source["scratch_container"], "database": source["database"]}
    return source


def resolve_endpoints(inspect_stdout, source, services, network, user, password, tool_name):
    """{source, targets: {target key: endpoint}}; a target also has its label and compose service."""
    infos = parse_inspect(inspect_stdout)
    endpoints = target_endpoints(services)
    labels = plan.target_labels(list(endpoints.values()))
    return {
        "source": resolve_endpoint(source_endpoint(source), infos, network, user, password, tool_name),
        "targets": {key: dict(resolve_endpoint(ep, infos, network, user, password, tool_name), label=labels[key],
                              compose_service=ep.get("compose_service"))
                    for key, ep in endpoints.items()},
    }


def containers(source, services):
    source = source_endpoint(source)
    names = [source["container"]] if "container" in source else []
    names += [ep["container"] for ep in target_endpoints(services).values() if "container" in ep]
    return names


def with_endpoints(targets, endpoints, kind, running_only=False):
    """[{plan, endpoint}] for modules that work on every target in one task: each plan target
    with its endpoint of ``kind`` (connection, runtime) from dbsplit_endpoints.targets; with
    ``running_only``, only the targets whose database runs (a check run before provisioning, a
    return after a target died)."""
    return [{"plan": target, "endpoint": endpoints[target["key"]][kind]} for target in targets
            if not running_only or endpoints[target["key"]]["running"]]


def publisher_servers(endpoints):
    """[{name, server, streams}] for dbsplit_reverse_server: the servers of the running targets
    (``dbsplit_endpoints.targets``), each once, named by its first target's key, with a stream
    for each target it holds."""
    servers = {}
    for key, endpoint in sorted(endpoints.items()):
        if endpoint["running"] and endpoint["id"] not in servers:
            servers[endpoint["id"]] = {"name": key, "server": endpoint["connection"],
                                       "streams": sum(1 for other in endpoints.values() if other["id"] == endpoint["id"])}
    return list(servers.values())


def target_logins(endpoints):
    """[{name, server}] for dbsplit_login_info: each running target, by its label."""
    return [{"name": endpoint["label"], "server": endpoint["connection"]}
            for _key, endpoint in sorted(endpoints.items()) if endpoint["running"]]


def alembic_services(services, endpoints, only=None):
    """[{name, alembic, endpoint}] of the Alembic services of the map (those named in ``only``,
    if given), each with its new database's connection, for dbsplit_alembic_stamp."""
    return [{"name": name, "alembic": spec["alembic"], "endpoint": endpoints[plan.target_key(spec["endpoint"])]["connection"]}
            for name, spec in sorted(services.items()) if spec.get("alembic") and (only is None or name in only)]


def table_line(figures):
    """One verified table, for the verify printout."""
    return (f'{figures["table"]}: {figures["rows"]} rows, checksum {figures["checksum"]} '
            f'(source {figures["source_checksum"]}), {figures["bytes"]} bytes, {figures["seconds"]} s')


def report_targets(targets, verified, restored):
    """Per target: its verified tables (with their service), restore action and totals.
    ``verified``: {target key: tables}, as dbsplit_verify returned it; ``restored``: {target key: figures}, as dbsplit_restore returned it
    returned; both as recorded by the run that did it."""
    report = []
    for target in targets:
        service_of = {}
        for table in target["tables"]:
            for name in [table["name"]] + table["partitions"]:
                service_of[name] = table["service"]
        tables = [dict(t, service=service_of.get(t["table"])) for t in verified.get(target["key"], [])]
        restore = restored.get(target["key"], {})
        report.append({
            "key": target["key"],
            "label": target["label"],
            "database": target["database"],
            "services": target["services"],
            "tables": tables,
            "rows": sum(t["rows"] for t in tables),
            "bytes": sum(t["bytes"] for t in tables),
            "restore_action": restore.get("action", "not run"),
            "restore_seconds": restore.get("seconds"),
            "dropped_foreign_keys": target["dropped_foreign_keys"],
        })
    return report


def restore_lines(restored):
    """One line per finished restore, for the transfer printout."""
    lines = []
    for figures in restored.values():
        seconds = f', {figures["seconds"]} s' if "seconds" in figures else ""
        memory = f', maintenance_work_mem {figures["maintenance_work_mem_mb"]} MB' if "maintenance_work_mem_mb" in figures else ""
        lines.append(f'{figures["label"]}: {figures.get("action")}{seconds}{memory}')
    return lines


def large_object_targets(targets):
    """[{database, count, bytes}] of the plan's targets that receive the large objects."""
    return [dict(target["large_objects"], database=target["label"]) for target in targets if target.get("large_objects")]


def planned_tables(plan_):
    return plan.planned_tables(plan_)


def returned_targets(previous_states, endpoints):
    """{target key: what holds it} of the new databases a rollback marked returned (from
    dbsplit_target_mark's previous_states, by label): recorded so that the next migration
    rebuilds them, stopped as they are, instead of refusing them."""
    by_label = {endpoint["label"]: key for key, endpoint in endpoints.items()}
    return {by_label[label]: endpoints[by_label[label]]["id"] for label, state in sorted(previous_states.items())
            if label in by_label and state in target.RETURNABLE + ("returned",)}


def proof_gaps(plan, backup_id, proof):
    return verify.proof_gaps(plan, backup_id, proof)


def differing_tables(proven):
    return verify.differing_tables(proven)


def service_volumes(stack, service):
    """The Docker volume names a compose service mounts (``docker compose config`` JSON, which
    renders each named volume's full name)."""
    declared = (stack or {}).get("volumes") or {}
    config = ((stack or {}).get("services") or {}).get(service) or {}
    return [declared.get(mount["source"], {}).get("name", mount["source"])
            for mount in config.get("volumes") or [] if mount.get("type") == "volume" and mount.get("source")]


def plan_table_oids(plan):
    """The source oids of every table (holding rows) the plan moves to a new database."""
    return sorted(o["oid"] for t in plan["targets"] for o in t["objects"].values()
                  if o["class"] == "pg_class" and o["kind"] == "r")


# What each phase says (plugin_utils/outcomes): its one line, its printouts, its long refusals.
OUTCOMES = {name: getattr(outcomes, name) for name in (
    "plan_printout", "plan_summary", "stop_summary", "backup_summary", "transfer_summary", "online_refusal",
    "reverse_status_lines", "publisher_restart", "install_summary", "install_laps", "schema_missing_refusal",
    "cutover_summary", "provision_summary", "online_copy_summary", "verify_summary", "alembic_summary", "alembic_would_run", "online_copy_figures",
    "audit_note", "audit_summary", "rows_differing")}


class FilterModule:
    def filters(self):
        return OUTCOMES | {
            "parse_env": parse_env,
            "target_endpoints": target_endpoints,
            "resolve_endpoints": resolve_endpoints,
            "containers": containers,
            "plan_lines": plan_lines,
            "target_key": plan.target_key,
            "online_name": online.stream_name,
            "consistent_point": audit.consistent_point,
            "online_late": online_late,
            "with_endpoints": with_endpoints,
            "publisher_servers": publisher_servers,
            "target_logins": target_logins,
            "new_databases_privilege_problems": privileges.new_databases_problems,
            "alembic_services": alembic_services,
            "reverse_result_line": reverse_result_line,

            "orphan_lines": reverse.orphan_lines,
            "object_fate_lines": object_fate_lines,
            "table_line": table_line,
            "report_targets": report_targets,
            "restore_lines": restore_lines,
            "proof_gaps": proof_gaps, "differing_tables": differing_tables, "returned_targets": returned_targets, "planned_tables": planned_tables,
            "large_object_targets": large_object_targets,
            "services_by_target": schema.services_by_target,
            "missing_line": schema.missing_line,
            "alembic_behind": schema.alembic_behind,
            "schema_proof": schema.schema_proof,
            "loss_lines": schema.loss_lines,
            "service_volumes": service_volumes,
            "plan_table_oids": plan_table_oids,
        }
