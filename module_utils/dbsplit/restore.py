"""Restore one target database's selection from the full backup."""

import os
import time

from ansible.module_utils.dbsplit import pgtools, target, toc


def tool_name(database):
    return f"yemma-dbsplit-restore-{database}"


def restore(conn, runtime, password, target_plan, manifest, plan_hash, rebuild, jobs, work_dir):
    """Select the target's TOC entries, then pg_restore them in parallel; return figures."""
    database = target_plan["database"]
    backup_dir, archive = os.path.split(manifest["archive"])
    mounts = [(backup_dir, "/backup", "ro")]
    listing = pgtools.run_tool(runtime, password, "pg_restore", ["--list", f"/backup/{archive}"],
                               name=tool_name(database), mounts=mounts)
    selected, entries = toc.filter_listing(listing, target_plan["objects"])
    os.makedirs(work_dir, mode=0o700, exist_ok=True)
    with open(os.path.join(work_dir, f"{database}.list"), "w") as stream:
        stream.write(selected)
    if rebuild:
        target.reset(conn)
    target.set_marker(conn, plan_hash, manifest["id"], "restoring")
    started = time.monotonic()
    pgtools.run_tool(
        runtime, password, "pg_restore",
        ["--dbname", database, "--use-list", f"/work/{database}.list", "--jobs", str(jobs),
         # Objects belong to the service's own role; roles granted in the monolith may not exist here.
         "--no-owner", "--no-privileges", "--exit-on-error", f"/backup/{archive}"],
        name=tool_name(database), mounts=mounts + [(work_dir, "/work", "ro")])
    seconds = time.monotonic() - started
    target.set_marker(conn, plan_hash, manifest["id"], "restored")
    return {"entries": entries, "seconds": round(seconds, 2)}
