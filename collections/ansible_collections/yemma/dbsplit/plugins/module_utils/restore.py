"""Restore one target database's selection from the full backup."""

import os
import re
import time

from ansible_collections.yemma.dbsplit.plugins.module_utils import backup, pgtools, target, toc


MIB = 1 << 20
# Per-session memory besides maintenance_work_mem (catalog caches, buffers of the COPY).
SESSION_OVERHEAD = 16 * MIB


def container_name(tool, target_plan):
    """The restore's one-off container, named after the target as people know it."""
    return f"{tool}-restore-{file_name(target_plan)}"


def file_name(target_plan):
    """The target's label (its database, and its server when another database has its name)
    in characters Docker and any filesystem take."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", target_plan["label"]).strip("-.") or "target"


def maintenance_work_mem(memory_limit, shared_buffers, jobs):
    """maintenance_work_mem (MB) for the restore sessions, so that ``jobs`` index builds at
    once fit in the target container's memory limit (0 = none) beside shared_buffers.

    The runbook's limits are tight (postgres-logs: 150 MB with 64 MB shared_buffers): with
    the server's default of 64 MB per index build, two jobs get a backend OOM-killed."""
    if not memory_limit:
        return 256
    headroom = memory_limit - shared_buffers - (jobs + 1) * SESSION_OVERHEAD
    # Half of the headroom: a sort may briefly exceed its budget.
    per_job = headroom // (2 * jobs) // MIB
    if per_job < 4:
        raise ValueError(f"the target's memory limit ({memory_limit // MIB} MB) leaves no room for {jobs} restore "
                         f"jobs beside shared_buffers ({shared_buffers // MIB} MB): lower dbsplit_restore_jobs "
                         "or raise the container's mem_limit")
    return min(per_job, 1024)


def restore(conn, runtime, password, target_plan, manifest, plan_hash, rebuild, jobs, work_dir, memory_limit,
            without_rows=False):
    """Select the target's TOC entries, then pg_restore them in parallel; return figures.
    ``without_rows``: the tables' rows are left out (online mode: its copy brings them)."""
    shared_buffers = conn.execute("SELECT pg_size_bytes(current_setting('shared_buffers'))").fetchone()[0]
    work_mem_mb = maintenance_work_mem(memory_limit, shared_buffers, jobs)
    backup.check_archive(manifest)
    _database, toc_entries = toc.read_toc(manifest["archive"])
    selected, entries = toc.filter_entries(toc_entries, target_plan["objects"], target_plan.get("large_objects"))
    if without_rows:
        tables = {o["oid"] for o in target_plan["objects"].values() if o["class"] == "pg_class" and o["kind"] == "r"}
        selected, entries = toc.without_rows_of(selected, toc_entries, tables)
    started = time.monotonic()
    restore_listed(conn, runtime, password, manifest, selected, f"{file_name(target_plan)}.list", plan_hash, rebuild, jobs,
                   work_dir, container_name(runtime["tool"], target_plan), {"maintenance_work_mem": f"{work_mem_mb}MB"})
    seconds = time.monotonic() - started
    return {"entries": entries, "seconds": round(seconds, 2), "maintenance_work_mem_mb": work_mem_mb}


def restore_listed(conn, runtime, password, manifest, listing, list_name, plan_hash, rebuild, jobs, work_dir, container,
                   settings=None):
    """pg_restore the ``listing`` (a ``pg_restore -L`` list) of the checked archive into the
    connected database, in parallel, stopping at the first error; the database's marker says
    ``restoring`` meanwhile (a killed run starts again from empty: ``rebuild``) and ``restored`` after."""
    backup_dir, archive = os.path.split(manifest["archive"])
    os.makedirs(work_dir, mode=0o700, exist_ok=True)
    backup.write_private(os.path.join(work_dir, list_name), listing)
    if rebuild:
        target.reset(conn)
    target.set_marker(conn, runtime["tool"], plan_hash, manifest["id"], "restoring")
    pgtools.run_tool(
        runtime, password, "pg_restore",
        ["--dbname", conn.info.dbname, "--use-list", f"/work/{list_name}", "--jobs", str(jobs),
         # Objects belong to the service's own role; roles granted in the monolith may not exist here.
         "--no-owner", "--no-privileges", "--exit-on-error", f"/backup/{archive}"],
        name=container, mounts=[(backup_dir, "/backup", "ro"), (work_dir, "/work", "ro")], settings=settings)
    target.set_marker(conn, runtime["tool"], plan_hash, manifest["id"], "restored")
