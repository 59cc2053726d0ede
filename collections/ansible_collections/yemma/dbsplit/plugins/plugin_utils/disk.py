"""Free space for what the run writes: the backup, each target's data, Option A's scratch copy.

Each need is a path where bytes will land; needs on one filesystem add up (the backup and the
new volumes often share the root disk). dbsplit_host_info measures each path on the host
(module_utils/host.free_space) and the preflight refuses, with the figures, when a filesystem
cannot take what will land on it.
"""

from ansible_collections.yemma.dbsplit.plugins.module_utils.host import data_path

def needs(plan, targets_to_fill, stack, docker_root, backup_path, backup_bytes, factor, base_bytes):
    """[{what, path, bytes}]: the backup (``backup_bytes`` at ``backup_path``, 0 when taken)
    and each target in ``targets_to_fill`` (target keys): its tables' size in the source
    times ``factor`` (indexes rebuilt, WAL written while restoring), plus ``base_bytes`` (an
    empty cluster)."""
    found = [{"what": "the backup", "path": backup_path, "bytes": int(backup_bytes)}] if backup_bytes else []
    for target in plan["targets"]:
        compose_service = target["endpoint"].get("compose_service")
        if target["key"] not in targets_to_fill or not compose_service:
            continue
        found.append({"what": f"target {target['label']}",
                      "path": data_path(stack, compose_service, docker_root),
                      "bytes": int(target.get("bytes", 0) * factor + base_bytes)})
    return found


def problems(found_needs, free):
    """One problem per filesystem that cannot take its needs. ``free`` maps each need's path to
    ``{"mount": ..., "avail": bytes}`` (df), or to ``{"error": ...}`` when it cannot be measured."""
    by_mount, errors = {}, []
    for need in found_needs:
        measured = free.get(need["path"], {"error": "not measured"})
        if "error" in measured:
            errors.append(f"cannot measure the free space at {need['path']} for {need['what']}: {measured['error']}")
            continue
        by_mount.setdefault(measured["mount"], {"avail": measured["avail"], "needs": []})["needs"].append(need)
    for mount, entry in sorted(by_mount.items()):
        total = sum(n["bytes"] for n in entry["needs"])
        if total > entry["avail"]:
            detail = ", ".join(f"{n['what']} {human(n['bytes'])}" for n in entry["needs"])
            errors.append(f"the filesystem at {mount} has {human(entry['avail'])} free but the run writes about "
                          f"{human(total)} there ({detail}): free space, or move the data (dbsplit_state_dir, the "
                          "volumes in the compose file) to a larger filesystem")
    return errors


def human(size):
    for unit in ("B", "KB", "MB", "GB"):
        if abs(size) < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"
