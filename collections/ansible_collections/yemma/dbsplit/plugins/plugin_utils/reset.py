"""What stops reset.yml before any change (runbook "Dépannage": one service's database emptied
and filled again). ``refusals`` needs the map, the progress and the endpoints alone;
``backup_refusals`` the reads of the migration backup and the monolith it is proven against.
Each refusal names the fix; the reset changes nothing while any holds."""

from ansible_collections.yemma.dbsplit.plugins.module_utils import plan


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
