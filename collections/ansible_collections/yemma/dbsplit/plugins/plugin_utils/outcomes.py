"""What each phase says: its one line (the summary the operator reads at 3 a.m.), its printouts
and the refusals whose words are longer than a task's condition. The roles hand these
functions what their modules returned; the texts live here, with their tests
(tests/unit/test_outcomes.py), not in Jinja."""

import time

from ansible.module_utils.common.text.formatters import bytes_to_human
from ansible_collections.yemma.dbsplit.plugins.module_utils import reverse


def plan_printout(plan):
    """The plan as the operator reads it: each target with its tables, what they need, the
    foreign keys left out, what stays behind, and every other object's fate."""
    lines = [f"plan {plan['hash']} for {plan['source_database']} ({bytes_to_human(plan['source_bytes'])})"]
    for target in plan["targets"]:
        lines += plan_lines(target)
    lines.append(f"left behind (never migrated): {', '.join(plan['left_behind'])}")
    return lines + object_fate_lines(plan["objects"])


def plan_summary(plan):
    tables = sum(len(target["tables"]) for target in plan["targets"])
    return f"{tables} tables of {plan['source_database']} into {len(plan['targets'])} databases, plan {plan['hash']}"


def stop_summary(mode, source_database, is_dump, froze, restart_needed, changes, check_mode):
    if mode == "offline":
        said = "backend services stopped" + ("" if is_dump else f", {source_database} "
                                                                 + ("frozen now" if froze else "frozen already"))
    else:
        said = f"online mode: the services keep serving on {source_database} until the cutover"
    if restart_needed:
        copy = "online copy and the " if mode == "online" else ""
        said += (f", its server {'would be restarted' if check_mode else 'restarted'} for the {copy}reverse stream "
                 f"({'; '.join(changes)})")
    return said


def backup_summary(result, mode):
    manifest = result.get("manifest")
    if not manifest:
        return f"a backup of {bytes_to_human(result['database_bytes'])} would be taken"
    online = ", while the services served (online mode: the schema of the targets comes from it)" if mode == "online" else ""
    return (f"took backup {manifest['id']}: {bytes_to_human(manifest['bytes'])} in {manifest['seconds']} s, sha256 "
            f"{manifest['sha256']}{online}")


def online_copy_figures(results, started, copied, built):
    """The online copy's figures once every stream has caught up: from dbsplit_online_bulk's
    result (``copied``: tables, bytes, seconds, rate, format, pauses), dbsplit_restore's after
    the rows (``built``: the build's wall seconds), and dbsplit_online_copy's info
    results (one per target: the largest lag, each stream's line); ``seconds``: the whole
    transfer since the copy ``started`` (copy, build, subscribe, catch-up)."""
    done = [result for result in results if "progress" in result]
    copies = list((copied or {}).get("copies", {}).values())  # a template may hand a one-pass view
    copy_bytes = sum(c["bytes"] for c in copies if c["action"] == "copy")
    copy_seconds = float((copied or {}).get("seconds", 0))
    return {"tables": sum(result["progress"]["count"] for result in done),
            "bytes": sum(result["progress"].get("bytes", 0) for result in done),
            "seconds": round(time.time() - float(started), 1),
            "copy_seconds": copy_seconds, "copy_bytes": copy_bytes,
            "copy_mb_per_second": round(copy_bytes / 1048576 / copy_seconds, 1) if copy_seconds else None,
            "formats": sorted({c["format"] for c in copies}), "parts": sum(c["parts"] for c in copies),
            "paused_seconds": (copied or {}).get("paused_seconds", 0),
            "build_seconds": (built or {}).get("seconds", 0),
            "lag_bytes": max([result["status"].get("lag_bytes") or 0 for result in done] or [0]),
            "lines": [result["line"] for result in done]}


def transfer_summary(restores, online=None):
    """The transfer's one line; ``online``: the online copy's part (online_copy_summary)."""
    return f"{len(restores)} databases restored in parallel ({', '.join(r['action'] for r in restores.values())})" + (online or "")


def online_refusal(results, max_lag, timeout, source_database, at_cutover):
    """What stops the online copy (an apply error, a lost slot, a schema change) or finds it late
    (not copied whole, or lagging more than ``max_lag`` bytes after ``timeout`` seconds), from
    dbsplit_online_copy's info results; [] when every copy is done and close. The old services
    still serve: nothing was stopped."""
    results = [result for result in results if "progress" in result]
    problems = [problem for result in results for problem in result.get("problems", [])]
    late = online_late(results, max_lag)
    if not problems and not late:
        return []
    lag = bytes_to_human(max_lag)
    if at_cutover:
        said = [f"no cutover: the old services still serve on {source_database}, nothing was stopped:"] + problems + late
        if late:
            said.append(f"these copies lag more than {lag} (dbsplit_max_lag) after {timeout} s: run again when the write load is "
                        "lower, or raise dbsplit_max_lag (a longer catch-up in the downtime)")
        return said
    said = [f"the online copy cannot go on; the old services still serve on {source_database}, unchanged:"] + problems
    if late and not problems:
        said = ([f"after {timeout} s (dbsplit_online_copy_timeout) these copies are not done, or lag more than {lag} "
                 "(dbsplit_max_lag):"] + late
                + ["The copies go on in the servers and the old services serve: run migrate.yml again to wait more "
                   "(-e dbsplit_break_lock=true is not needed, this run released its lock)"])
    return said


def reverse_status_lines(streams, source_database):
    """Where each reverse stream stands, what stops one, and the rows a rollback would refuse."""
    lines = [reverse_result_line(stream, source_database) for stream in streams]
    lines += [problem for stream in streams for problem in stream.get("problems", [])]
    orphans = [orphan for stream in streams for orphan in stream.get("orphans", [])]
    if orphans:
        lines.append(f"rows of {source_database} whose parent in another database is gone (rollback.yml refuses them until "
                     "resolved in their new database, or accepted with -e rollback_accept_orphans=true):")
        lines += reverse.orphan_lines(orphans)
    return lines


def publisher_restart(publishers, targets):
    """The new databases' servers that need a restart for the reverse stream: {services: the
    compose services to restart, problems: servers this tool cannot restart (no compose
    service)}, from dbsplit_reverse_server's servers (by target key)."""
    due = [key for key, server in sorted(publishers["servers"].items()) if server.get("restart_needed")]
    services = sorted({targets[key]["compose_service"] for key in due if targets[key].get("compose_service")})
    problems = list(publishers.get("problems", []))
    problems += [f"restart the server of {targets[key]['label']}: wal_level = logical is set and takes effect then"
                 for key in due if not targets[key].get("compose_service")]
    return {"services": services, "problems": problems}


def cutover_summary(cutover, downtime, proven, source_database, labels, check_mode):
    """The cutover's one line; a check run's says what it would do (the new databases may not
    exist yet). ``cutover``: machine.cutover_start's view; ``proven``: online, the proof's
    tables by target (None offline, where the verify phase proved them)."""
    back = f"every write they make flows back to {source_database} (rollback.yml loses nothing until finish.yml)"
    if check_mode:
        said = "would "
        if cutover["online"]:
            said += (f"stop the backend services, freeze {source_database}, switch every target at once (apply the last "
                     "changes, carry the sequences, remove the online copies), take snapshots of every side, ")
        if cutover["reverse_stream"] and not cutover["began"]:
            said += (f"start {len(labels)} reverse stream(s) ({', '.join(labels)} publish their tables, {source_database} "
                     "subscribes), ")
        said += "start the services on the new databases"
        return said + (f" and prove every target equal to {source_database} at the freeze while they serve"
                       if cutover["online"] else "")
    said = f"services started on their new databases; write downtime {downtime} s (services stopped to services healthy)"
    if cutover["reverse_stream"]:
        said += f"; {back}"
    if proven is not None:
        tables = sum(len(per_target) for per_target in proven.values())
        said += f"; {tables} tables proven equal to {source_database} at the freeze (snapshots), while they served"
    return said


def provision_summary(targets, created, reverse_stream, publishers, wal_keep_mb, check_mode):
    """The provision's one line: the new databases running (and those it created on them:
    dbsplit_target_create's result), and what their servers were (or, in a check run before they
    exist, would be) given for the reverse stream (dbsplit_reverse_server's result)."""
    running = [target for target in targets.values() if target["running"]]
    said = f"{len(running)} of {len(targets)} new databases running, with the infrastructure"
    if created.get("created"):
        said += f" ({', '.join(created['created'])} created)"
    changes = publishers.get("changes", [])
    if not reverse_stream:
        return said
    said += ", ready to publish the reverse stream" + (f" (set: {'; '.join(changes)})" if changes else "")
    absent = sorted(target["label"] for target in targets.values() if not target["running"])
    if check_mode and absent:
        said += (f"; would set wal_level = logical and max_slot_wal_keep_size = {wal_keep_mb} MB on the servers of "
                 f"{', '.join(absent)} once started, and restart them before they hold data")
    return said


def online_copy_summary(online_copy, labels, source_database, max_lag):
    """The online copy's part of the transfer's line (a check run's says what it would do)."""
    if online_copy is None:
        return (f"; would copy each new database's rows from a snapshot of {source_database} ({', '.join(labels)}) "
                "while the old services serve, build its indexes after, then stream the changes made since until the "
                f"cutover, which waits for the lag to fall under {bytes_to_human(max_lag)}")
    rate = online_copy.get("copy_mb_per_second")
    return (f"; {online_copy['tables']} tables ({bytes_to_human(online_copy['bytes'])}) copied while the services served "
            f"in {online_copy['seconds']} s (rows {online_copy.get('copy_seconds', 0)} s"
            + (f" at {rate} MB/s" if rate else "") + f", indexes {online_copy.get('build_seconds', 0)} s"
            + (f", paused {online_copy['paused_seconds']} s" if online_copy.get("paused_seconds") else "")
            + f"); every change streams, lag at most {bytes_to_human(online_copy['lag_bytes'])} now")


def verify_summary(verified, source_database):
    """The verify phase's one line (online, where the proof is made at the cutover, it says so)."""
    if verified.get("skipped"):
        return (f"online mode: the targets still stream the services' writes; each is proven equal to {source_database} at "
                "the cutover, on snapshots of both taken at the freeze")
    tables = [figures for per_target in verified["tables"].values() for figures in per_target]
    said = (f"{len(tables)} tables in {len(verified['tables'])} databases equal the source: "
            f"{sum(figures['rows'] for figures in tables)} rows, checksums, sequences, enums, schema, "
            f"{verified.get('objects', 0)} other objects")
    if verified.get("not_restored"):
        said += f"; would compare {', '.join(verified['not_restored'])} once restored"
    return said


def alembic_summary(stamped, check_mode):
    """The alembic phase's one line, from dbsplit_alembic_stamp's services (or None when a check
    run could not ask: the new databases do not exist yet)."""
    services = stamped or []
    now = sum(1 for service in services if service.get("stamped"))
    return f"{len(services)} Alembic services at their head ({now} {'would be ' if check_mode else ''}stamped now)"


def alembic_would_run(services):
    """A check run before provisioning: the command each Alembic service would run."""
    return [f"would run alembic {' '.join(spec['alembic'].get('args', []) + ['stamp', 'head'])} for {name}"
            for name, spec in sorted(services.items()) if spec.get("alembic")]


def install_summary(proof, databases, services, check_mode):
    if check_mode:
        return (f"checked, nothing changed: would start {databases} databases, create the tables of {services} services "
                "and start the stack")
    tables = sum(entry["tables"] for entry in proof.values())
    heads = sum(1 for entry in proof.values() if entry.get("head"))
    return (f"{services} services installed on {databases} databases: {tables} tables proven, {heads} Alembic services at "
            "head, the stack healthy")


def install_laps(started, laps):
    """install.yml's clock: {databases, schema, services, total} seconds from the start and the
    instants the databases and the schema steps ended (``laps``); the services' step ends now,
    when the report is written."""
    steps = ("databases", "schema", "services")
    marks = [float(started)] + [float(lap) for lap in laps] + [time.time()]
    found = {step: round(marks[i + 1] - marks[i], 1) for i, step in enumerate(steps) if i + 1 < len(marks)}
    if len(marks) > 1:
        found["total"] = round(marks[-1] - marks[0], 1)
    return found


def schema_missing_refusal(missing, compose_file, reset_command, behind=()):
    """install.yml (and a reset without a migration) refusing tables of the map that were not
    created, and Alembic services not at their one head."""
    found = []
    if missing:
        found += (["tables of the map were not created:"] + missing
                  + [f"Read the services' logs (docker compose -f {compose_file} logs <service>): an Alembic or create_all "
                     "error is logged there; a database that Alembic says is at head without its tables is repaired with "
                     + reset_command.replace("{service}", "<service>")])
    if behind:
        found += ["Alembic is not at head:"] + list(behind)
    return found


def plan_lines(target):
    """Human-readable lines of one plan target, for the plan printout."""
    lines = [f'{target["label"]} <- {", ".join(target["services"])}']
    for table in target["tables"]:
        parts = f' (partitions: {", ".join(table["partitions"])})' if table["partitions"] else ""
        lines.append(f'  table {table["name"]} [{table["service"]}]{parts}')
    for label, names in target["needs"].items():
        lines.append(f'  needs {label}: {", ".join(names)}')
    for fk in target["dropped_foreign_keys"]:
        lines.append(f'  drops foreign key {fk["constraint"]} on {fk["table"]} -> {fk["references"]} '
                     f'({fk["references_service"] or "left behind"}, another database)')
    large_objects = target.get("large_objects")
    if large_objects:
        size = f'{large_objects["bytes"]} bytes' if large_objects["bytes"] is not None else large_objects["note"]
        lines.append(f'  large objects: all {large_objects["count"]} of the source ({size})')
    return lines


def object_fate_lines(objects):
    """One line per object that is not a table: where it goes, and why."""
    lines = [f"other objects: {len(objects)}" + (" (views, functions, types, schemas... each with its fate)"
                                                 if objects else "")]
    for obj in objects:
        where = ", ".join(obj["targets"]) if obj["targets"] else "left behind"
        lines.append(f'  {obj["object"]} -> {where}: {obj["fate"]}')
    return lines


def online_late(results, max_lag):
    """The lines of the online copies (dbsplit_online_copy info results) not yet copied whole or
    lagging more than ``max_lag`` bytes."""
    return [r["line"] for r in results
            if r["progress"]["copied"] < r["progress"]["count"] or (r["status"].get("lag_bytes") or 0) > max_lag]


def reverse_result_line(result, source_database):
    """One reverse stream's state, for the operator: lag, and the WAL its slot holds (from a
    dbsplit_reverse_stream's streams)."""
    status, label = result["status"], result["label"]
    if not status.get("exists"):
        return f"{label} -> {source_database}: no reverse stream"
    seconds = status.get("lag_seconds")
    lag = f"lag {status['lag_bytes']} bytes, " + (f"{seconds} s" if seconds is not None else "monolith not connected")
    state = "applying" if status.get("applying") else ("DISABLED (apply error)" if not status.get("enabled")
                                                       else "not applying")
    return (f"{label} -> {source_database}: {state}, {lag}; slot holds {status['held_bytes']} bytes of WAL "
            f"({status.get('wal_status')})")


# --- verify.yml ------------------------------------------------------------------------------

AUDIT_POINTS = {
    "quiet": "as they are (nothing writes)",
    "snapshots": "at one instant (a snapshot of each side)",
    "reverse_stream": "at one instant (each new database's snapshot, then {source}'s once every reverse stream had "
                      "applied up to it: {waited} s)",
    "online_copy": "at one instant ({source}'s snapshot, then each new database's once its copy had applied up to it: "
                   "{waited} s)",
}


def audit_note(recorded, point, source_database):
    """What the comparison's result means where the migration stands (verify.yml's report)."""
    if point == "reverse_stream":
        return (f"the services write to the new databases and each reverse stream carries their writes to "
                f"{source_database}: any difference below is a row the stream did not carry")
    if point == "online_copy":
        return (f"online copy under way: the services write to {source_database}, each new database follows it; "
                "the cutover proves them again on the freeze's snapshots")
    if recorded["stage"] == "finished":
        return (f"finish.yml removed the reverse streams: the rows the services wrote since are in the new databases "
                f"only, and are named below as differences; {source_database} stays as it was then")
    if recorded["stage"] in ("cutover", "completed"):
        return (f"no reverse stream (dbsplit_reverse_stream: false): the rows the services wrote on the new databases "
                f"since the cutover are not in {source_database}, and are named below as differences")
    return (f"before the cutover: the services write to {source_database}, so the rows written since each new "
            "database was filled differ (the migration's own proof compares them frozen)")


def rows_differing(tables):
    """[{target, table, key, counts, keys}] of the tables whose rows differ, as localised (verify.compare)."""
    return [{"target": target, "table": figures["table"], **figures["rows_differing"]}
            for target, per_target in sorted(tables.items()) for figures in per_target
            if any(figures.get("rows_differing", {}).get("counts", {}).values())]


def rows_settled(tables):
    """Rows a live comparison found differing at its first instant and equal at its second."""
    return sum(figures.get("rows_differing", {}).get("settled", 0)
               for per_target in tables.values() for figures in per_target)


def audit_summary(report):
    """verify.yml's one line: what it compared, how, and what differs."""
    source = report["source"]
    point = AUDIT_POINTS[report["consistent_point"]].format(source=source, waited=report["waited"])
    skipped = f"; not restored, not compared: {', '.join(report['not_restored'])}" if report["not_restored"] else ""
    if report.get("copying"):
        skipped += f"; {len(report['copying'])} tables still being copied, not compared"
    if report["check_mode"]:
        plan = report["plan"]
        return (f"would compare {len(plan)} new databases ({sum(target['tables'] for target in plan)} tables, "
                f"{bytes_to_human(sum(target['bytes'] for target in plan))} in {source}) with {source} {point}, and "
                f"name up to {report['sample_keys']} keys of each kind of row that differs{skipped}")
    tables = [figures for per_target in report["tables"].values() for figures in per_target]
    said = (f"{len(report['tables'])} new databases, {len(tables)} tables, {sum(f['source_rows'] for f in tables)} rows "
            f"of {source} compared {point} in {report['seconds']} s: ")
    settled = rows_settled(report["tables"])
    if settled:
        said += f"{settled} rows written while compared agreed when read again at a later instant; "
    if not report["differences"]:
        return said + "every row, checksum, schema object and enum equal" + skipped
    named = [f"{item['table']} in {item['target'].split('/')[-1]}: " + ", ".join(
        f"{count} {kind}" for kind, count in item["counts"].items() if count) for item in report["rows_differing"]]
    return said + f"{len(report['differences'])} difference(s)" + (f" ({'; '.join(named)})" if named else "") + skipped
