"""Restore each target database's selection from the full backup, every target at once."""

import os
import re
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.yemma.dbsplit.plugins.module_utils import backup, pgconn, pgtools, target, toc


class Refused(RuntimeError):
    """A target this tool must not restore into; nothing was changed."""


class RestoreFailed(RuntimeError):
    """One or more restores failed; the message names each."""


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


# What a restore brings to a target: all of its share (offline), or online mode's two parts
# around the copy of the rows: the schema they go into, then what is built over them.
PARTS = ("whole", "before_rows", "after_rows")
# The marker a target carries once a part is restored (module_utils/target).
RESTORED_AS = {"whole": "restored", "before_rows": "schema", "after_rows": "restored"}


def restore_all(psycopg, targets, manifest, plan_hash, jobs, work_dir, part, check_mode, timeout=None, targets_at_once=0):
    """Restore ``part`` (PARTS) of every target ([{plan, endpoint}], endpoints with their tools
    runtime) from the backup, side by side; return {target key: figures, with the action taken}.
    Every target is judged first (target.verdict): one that must be refused fails the whole task
    before any change. A target already restored from this plan and backup is kept. The archive is checked
    against its recorded checksum once, for all. Raise ``Refused``, or ``RestoreFailed`` naming
    every target whose restore failed (the others are restored). ``timeout``: seconds each
    pg_restore may take; ``targets_at_once``: how many targets restore at the same time (0: all)."""
    judged, refused, versions = {}, [], {}
    for spec in targets:
        plan, endpoint = spec["plan"], spec["endpoint"]
        if not check_mode:
            # A run killed mid-way leaves its tool container writing into the target: stop it first.
            pgtools.remove_stale(container_name(endpoint["tool_name"], plan))
        with pgconn.connect(psycopg, endpoint) as conn:
            info = target.inspect(conn, endpoint["tool_name"])
            versions[plan["key"]] = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()[0]
        action, why = target.verdict(info, plan_hash, manifest["id"], part)
        judged[plan["key"]] = {"label": plan["label"], "action": action, "target_state": info}
        if action == "refuse":
            refused.append(f"target {plan['label']} {why}")
    if refused:
        raise Refused("\n".join(refused))
    due = [spec for spec in targets if judged[spec["plan"]["key"]]["action"] != "keep"]
    if check_mode or not due:
        return judged
    # A client older than its server is refused; the targets share an image, checked once.
    for image, version in {(spec["endpoint"]["tools_image"], versions[spec["plan"]["key"]]) for spec in due}:
        pgtools.check_client_version(image, "pg_restore", version)
    backup.check_archive(manifest)
    _database, toc_entries = toc.read_toc(manifest["archive"])

    def one(spec):
        plan, endpoint = spec["plan"], spec["endpoint"]
        with pgconn.connect(psycopg, endpoint) as conn:
            return restore(conn, pgconn.tools_runtime(endpoint), endpoint["login_password"], plan, manifest, toc_entries,
                           plan_hash, judged[plan["key"]]["action"] == "rebuild", jobs, work_dir, endpoint["memory_limit"],
                           part, timeout)

    with ThreadPoolExecutor(max_workers=min(len(due), targets_at_once or len(due))) as pool:
        futures = [(spec, pool.submit(one, spec)) for spec in due]
    failed = []
    for spec, future in futures:
        try:
            judged[spec["plan"]["key"]].update(future.result())
        except (psycopg.Error, pgtools.ToolError, toc.TocError, OSError, ValueError) as exc:
            failed.append(f"{spec['plan']['label']}: {str(exc).strip()}")
    if failed:
        raise RestoreFailed("\n- ".join(["restore failed (a run again rebuilds each from empty):"] + failed))
    return judged


def restore(conn, runtime, password, target_plan, manifest, toc_entries, plan_hash, rebuild, jobs, work_dir, memory_limit,
            part="whole", timeout=None):
    """Select the target's entries of the (checked) archive's TOC, then pg_restore them in
    parallel; return figures. ``part`` (PARTS): online mode restores the tables without their
    rows, indexes, constraints and triggers ("before_rows"), its copy brings the rows, then
    "after_rows" builds the rest in parallel and ANALYZEs the target (the new services' first
    queries are planned on statistics, as on the monolith)."""
    shared_buffers = conn.execute("SELECT pg_size_bytes(current_setting('shared_buffers'))").fetchone()[0]
    work_mem_mb = maintenance_work_mem(memory_limit, shared_buffers, jobs)
    selected, entries = toc.filter_entries(toc_entries, target_plan["objects"], target_plan.get("large_objects"))
    if part != "whole":
        relations = {o["oid"] for o in target_plan["objects"].values() if o["class"] == "pg_class" and o["kind"] in ("r", "m")}
        selected, _count = toc.without_rows_of(selected, toc_entries, relations)
        before, after = toc.split_after_rows(selected, toc_entries)
        selected, entries = before if part == "before_rows" else after
    started = time.monotonic()
    list_name = f"{file_name(target_plan)}.{part}.list"
    settings = {"maintenance_work_mem": f"{work_mem_mb}MB"}
    restore_listed(conn, runtime, password, manifest, selected, list_name, plan_hash, rebuild, jobs, work_dir,
                   container_name(runtime["tool"], target_plan), settings, timeout, RESTORED_AS[part])
    if part == "after_rows":
        conn.execute("ANALYZE")
    seconds = time.monotonic() - started
    return {"entries": entries, "seconds": round(seconds, 2), "maintenance_work_mem_mb": work_mem_mb}


def restore_listed(conn, runtime, password, manifest, listing, list_name, plan_hash, rebuild, jobs, work_dir, container,
                   settings=None, timeout=None, restored_as="restored"):
    """pg_restore the ``listing`` (a ``pg_restore -L`` list) of the checked archive into the
    connected database, in parallel, stopping at the first error; the database's marker says
    ``restoring`` meanwhile (a killed run starts again from empty: ``rebuild``) and
    ``restored_as`` after."""
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
        name=container, mounts=[(backup_dir, "/backup", "ro"), (work_dir, "/work", "ro")], settings=settings,
        timeout=timeout)
    target.set_marker(conn, runtime["tool"], plan_hash, manifest["id"], restored_as)
