"""What stops reset.yml before any change (runbook "Dépannage": one service's database emptied
and filled again). ``refusals`` needs the map, the progress and the endpoints alone;
``backup_refusals`` the reads of the migration backup and the monolith it is proven against.
Each refusal names the fix; the reset changes nothing while any holds."""

from ansible_collections.yemma.dbsplit.plugins.module_utils import plan, schema


def refusals(service, services, recorded, endpoints, environment, compose_file, from_backup):
    """Why a reset of ``service``'s database cannot start here, from what is recorded."""
    if service not in services:
        named = f"service {service} is not in the map (dbsplit_services): " if service else "no service named: "
        return [f"{named}run ansible-playbook reset.yml -l {environment} -e service=NAME, NAME one of "
                f"{', '.join(sorted(services))}. Nothing was changed."]
    key = plan.target_key(services[service]["endpoint"])
    target = endpoints["targets"][key]
    sharing = ", ".join(sorted(name for name, spec in services.items() if spec["endpoint"] == services[service]["endpoint"]))
    found = []
    if recorded["reverse_live"]:
        found.append(f"the services run on the new databases since {recorded['cutover'].get('started_at', 'the cutover')} and "
                     f"every write flows back to the monolith through the reverse stream: a reset from the migration backup "
                     f"would throw away what {sharing} wrote since. Repair it by going back: ansible-playbook rollback.yml -l "
                     f"{environment} (it loses nothing), then migrate.yml again. Nothing was changed.")
    if recorded["stage"] == "finished":
        found.append(f"the migration was finished (finish.yml): the monolith and the migration backup are the past, and the "
                     f"services' writes since the cutover are only in their databases. Restore {target['label']} from your own "
                     "backups of it. Nothing was changed.")
    if from_backup and recorded["backup_while_serving"]:
        found.append("this migration ran online: its backup was taken while the services served, so it is not the monolith "
                     "as of the cutover and a reset from it could not be proven. Go back instead (rollback.yml: every write "
                     "comes back through the reverse stream), then migrate again. Nothing was changed.")
    if not target["running"]:
        found.append(f"{target['label']} is not running: start it (docker compose -f {compose_file} up -d --wait "
                     f"{target.get('compose_service') or ''}) and run again. Nothing was changed.")
    return found


def backup_refusals(manifest, archive_stat, source_database, source_running, frozen):
    """Why the migration backup cannot fill the database again: it is missing or damaged (its
    sha256 is checked), or the monolith it is proven against is not running or not frozen."""
    found = []
    if archive_stat.get("checksum") != manifest["sha256"]:
        state = "missing" if not archive_stat.get("exists") else "damaged (its sha256 is not the one recorded)"
        found.append(f"the migration backup {manifest['archive']} is {state}: the database cannot be filled again from it. "
                     "Nothing was changed.")
    if not source_running:
        found.append(f"{source_database} is not running: start it; the reset proves the database equal to it. Nothing was "
                     "changed.")
    elif not frozen:
        found.append(f"{source_database} is writable again (the platform went back to it after a failed run): the migration "
                     "backup no longer holds what it holds. Run migrate.yml again: it freezes it, takes a new backup and "
                     "rebuilds every database from it. Nothing was changed.")
    return found


def losses(found, from_backup):
    """What the reset would replace (dbsplit_schema_info's reading): after a migration, the
    tables whose rows differ from the backup's; otherwise any row (an installation's tables
    start empty)."""
    if from_backup:
        return [loss for loss in found["losses"] if loss["state"] == "differs"]
    return [dict(table, state="differs", source_rows=0) for table in found["data"]]


def view(found, from_backup):
    """Table by table, what the database holds against what the reset puts back (and, without a
    migration, the services whose tables are missing)."""
    if from_backup:
        return schema.loss_lines(found["losses"])
    return ([f"missing tables of {schema.missing_line(service)}" for service in found["services"] if service["missing"]]
            + schema.loss_lines(losses(found, False)))


def losses_refusal(replaced, label, stage, cutover_started_at, view_lines):
    """The refusal when rows would be replaced ([] when none), naming each table and the fix;
    ``view_lines`` (``view``) adds what else the reset would put back, such as a missing table."""
    if not replaced:
        return []
    theirs = (f" (the services have run on it since the cutover at {cutover_started_at}, so they may be theirs)"
              if stage != "migrating" else "")
    replaced_lines = schema.loss_lines(replaced)
    others = [line for line in view_lines if line not in replaced_lines]
    return ([f"{label} holds rows the reset would replace{theirs}:"] + replaced_lines
            + (["It would also put back:"] + others if others else [])
            + ["Save what you need, then run again with -e reset_force=true to replace them. Nothing was changed."])


def warning(clients, label, services, filled_from, source_database):
    """What the prompt and its refusal say the reset does. ``filled_from``: "backup <id>" or
    "installation"."""
    fill = (f"from the migration {filled_from} ({source_database} at the freeze), proven equal to {source_database}, "
            "Alembic stamped" if filled_from != "installation" else "as install.yml creates it (alembic upgrade head, create_all)")
    return (f"This stops {', '.join(clients)}, empties {label} (the database of {', '.join(services)}) and fills it again "
            f"{fill}, then starts again what was running. Nothing else is touched.")


def summary(report):
    """The reset's one line, from its report."""
    from_backup = report["filled_from"] != "installation"
    filled = f"from {report['filled_from']}" if from_backup else "as an installation"
    if report["check_mode"]:
        return (f"checked, nothing changed: {report['database']} would be emptied ({report['dropped_objects']} objects) and "
                f"filled again {filled}")
    proven = f", {report['rows']} rows proven equal to {report['source']}" if from_backup else " created, Alembic at head"
    return (f"{report['database']} was emptied ({report['dropped_objects']} objects) and filled again {filled}: "
            f"{report['tables']} tables{proven}; {len(report['started_again'])} services started again after "
            f"{report['seconds']} s")
