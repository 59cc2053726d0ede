"""rollback.yml's refusals, figures and one line, from what its tasks read and did.

Before any change (``refusals``): after finish.yml there is no way back; rows that break a
foreign key across databases (listed) until resolved or accepted; a new database that does not
run while its last writes are only there; a monolith whose volume is gone while the backup that
would rebuild it is missing or damaged; a compose file that cannot be read. Once every write
has arrived (``orphans_after_catch_up``): the same rows again, before the thaw.
"""

from ansible_collections.yemma.dbsplit.plugins.module_utils import reverse


def lost_volumes(volume_results):
    """The monolith's volumes that `docker volume inspect` did not find (loop results)."""
    return [result["item"] for result in volume_results if result.get("rc") != 0]


def refusals(s, recorded, endpoints, orphans, host_problems, lost, rebuild_begun, archive_stat):
    """Why the rollback cannot start, before it changes anything. ``s``: source_database,
    compose_file, accept_orphans, check_mode."""
    source = s["source_database"]
    found = list(host_problems)
    manifest = recorded["manifest"] or {}
    if recorded["stage"] == "finished":
        found.append(f"the migration was finished at {recorded['runs'].get('finish', {}).get('at', '?')} (finish.yml): the "
                     f"reverse stream is gone, so {source} misses every write the services made since then and a rollback "
                     f"would lose them. What remains: {source} as it was at the finish (frozen, kept), and the migration "
                     f"backup {manifest.get('archive', '?')} (sha256 {manifest.get('sha256', '?')}, {source} as it was at the "
                     "freeze): restore either with pg_restore to go back, knowing the services' writes since then are only "
                     "in the new databases. Nothing was changed.")
        return found
    if orphans and not s["accept_orphans"] and not s["check_mode"]:
        found += [f"these rows of {source} break a foreign key that the new databases could not check (the parent lives in "
                  "another database, and the change that removed it came back through the reverse stream):"]
        found += reverse.orphan_lines(orphans)
        found.append("Resolve each in its new database while the services run (delete or fix the row, or restore its "
                     "parent: the change flows back), then run rollback.yml again; or keep them with "
                     "-e rollback_accept_orphans=true. Nothing was changed.")
    stopped = sorted(target["label"] for target in endpoints["targets"].values() if not target["running"])
    if recorded["reverse_live"] and stopped:
        services = " ".join(sorted(target.get("compose_service") or target["label"] for target in endpoints["targets"].values()
                                   if not target["running"]))
        found.append(f"new database(s) {', '.join(stopped)} not running: the writes they hold since the cutover must reach "
                     f"{source} first. Start them (docker compose -f {s['compose_file']} up -d --wait {services}), then run "
                     "rollback.yml again. Nothing was changed.")
    if (lost or rebuild_begun) and (archive_stat or {}).get("checksum") != manifest.get("sha256"):
        state = "missing" if not (archive_stat or {}).get("exists") else "damaged (its sha256 is not the one recorded)"
        found.append(f"the monolith's volume {', '.join(lost)} is gone, and the migration backup "
                     f"{manifest.get('archive', '(none recorded)')} that would rebuild it is {state}: restore the volume from "
                     "your own backups, then run rollback.yml again. Nothing was changed.")
    return found


def orphans_after_catch_up(orphans, source_database, compose_file):
    """The refusal to thaw once every stream caught up, while rows break a foreign key across
    databases ([] when none)."""
    if not orphans:
        return []
    return ([f"the new databases could not check these foreign keys (the parent lives in another database), and the "
             f"reverse stream brought the rows back to {source_database}, which does not check them either:"]
            + reverse.orphan_lines(orphans)
            + [f"Resolve each in its new database (they are running; the change flows back): delete or fix the row, or "
               "restore its parent; then run rollback.yml again. Or keep them as they are with "
               f"-e rollback_accept_orphans=true (the constraint stays declared but broken, and a dump of {source_database} "
               f"will not restore until they are fixed). The new services are stopped (docker compose -f {compose_file} up "
               f"-d starts them again), {source_database} is still frozen, the reverse stream is kept."])


def proof(verified, applied, caught_up, accept_orphans, stopped_at):
    """The rollback's proof for its report: tables and rows proven equal, each stream's figures."""
    tables = [figures for per_target in (verified.get("tables") or {}).values() for figures in per_target]
    orphans = {result["key"]: result.get("orphans", []) for result in caught_up}
    return {"stopped_at": stopped_at, "tables": len(tables), "rows": sum(figures["rows"] for figures in tables),
            "targets": verified.get("tables") or {}, "orphans_accepted": accept_orphans,
            # Tables the cutover's proof found different (the reason for this rollback): their figures differ here too.
            "excused": verified.get("excused") or [],
            "streams": [{"target": result["label"], "key": result["key"], "waited_seconds": result.get("waited_seconds"),
                         "applied_lsn": result.get("applied_lsn"), "sequences": result.get("sequences", []),
                         "large_objects": result.get("large_objects", []), "orphans": orphans.get(result["key"], [])}
                        for result in applied]}


def summary(s, recorded, proven, downtime, lost, rebuilt):
    """The rollback's one line: where the platform is, what came back, what was kept. ``rebuilt``:
    dbsplit_monolith_rebuild's result when the monolith was rebuilt from the backup, else None."""
    source, check = s["source_database"], s["check_mode"]
    backup = (recorded["manifest"] or {}).get("id")
    said = []
    if lost or rebuilt:
        gone = (f"the monolith's volume {', '.join(lost)} is gone" if lost
                else "an earlier rollback began rebuilding the monolith")
        said.append(f"{gone}: {source} would be rebuilt from the migration backup {backup} (sha256 checked)" if check else
                    f"{gone}: {source} restored from backup {backup} ({(rebuilt or {}).get('entries', '?')} entries, "
                    f"{(rebuilt or {}).get('seconds', 0)} s)")
    if check:
        said.append("checked, nothing changed: a rollback would put " + source + " back"
                    + (", carrying every write made since the cutover with it" if recorded["reverse_live"] else ""))
    elif recorded["reverse_live"]:
        said.append(f"{source} serves the platform again; every write made since the cutover came back ({proven['rows']} rows "
                    f"in {proven['tables']} tables proven equal, write downtime {downtime} s)")
    elif recorded["stage"] == "migrating":
        said.append(f"{source} serves the platform again; before the cutover: nothing to carry back")
    else:
        said.append(f"{source} serves the platform again; rows written to the new databases after the cutover are NOT in "
                    f"{source} (no reverse stream): a new migration refuses them until you remove them deliberately")
    kept = ("marked returned: the next migration rebuilds them" if recorded["reverse_live"] or recorded["stage"] == "migrating"
            else "kept as they are")
    said.append(f"the new databases are stopped, not deleted ({kept})")
    return "; ".join(said)
