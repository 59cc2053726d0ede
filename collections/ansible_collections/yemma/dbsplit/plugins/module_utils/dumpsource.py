"""Runbook Option A: the source is a pg_dump archive on the host, not a running server.

Planning and verification read a live catalog, so the archive is restored whole into a
throwaway PostgreSQL server: a container of the tools image on the platform's network,
no port published, durability off (it is rebuilt from the archive, never trusted
otherwise). Every phase reads it as "the source", so the targets are verified against
exactly what the archive holds. The container is labelled with the archive's SHA-256 and
its database is marked loaded only after pg_restore succeeded, so a later run reuses it
only when it is complete and from the same archive.
"""

import json
import os
import time

from ansible_collections.yemma.dbsplit.plugins.module_utils import pgtools

# Label and database comment are prefixed with the tool's name (dbsplit_tool_name).
LABEL_SHA = "{tool}.dump-sha256"
LOADED = "{tool} scratch source, loaded from sha256={sha256}"
# Durability is pointless for a server rebuilt from the archive on any doubt.
FAST_SETTINGS = ["fsync=off", "full_page_writes=off", "synchronous_commit=off", "maintenance_work_mem=256MB"]


def inspect(name):
    result = pgtools.run_command(["docker", "container", "inspect", name], check=False)
    return json.loads(result.stdout)[0] if result.returncode == 0 else None


def ours(tool, name):
    """The scratch server's ``inspect``, None when absent; a container of that name that this
    tool did not start (no label ``tool``) is refused, so that a scratch_container set to a
    platform container's name never removes it."""
    info = inspect(name)
    if info is not None and tool not in ((info.get("Config") or {}).get("Labels") or {}):
        raise pgtools.ToolError(f"container {name} exists and is not a scratch server of {tool} (it has no label {tool}): "
                                "it is left alone; set dbsplit_source.scratch_container to a name of its own")
    return info


def remove(tool, name):
    if ours(tool, name) is None:
        return False
    pgtools.run_command(["docker", "rm", "--force", "--volumes", name])
    return True


def loaded_marker(name, user, database):
    """The scratch database's comment, read through the container's local socket."""
    result = pgtools.run_command(["docker", "exec", name, "psql", "-X", "-At", "-U", user, "-d", database, "-c",
                                  "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database "
                                  "WHERE datname = current_database()"], check=False)
    return result.stdout.strip() if result.returncode == 0 else ""


def is_loaded(tool, name, sha256, user, database):
    info = inspect(name)
    return bool(info and info["State"]["Running"] and info["Config"]["Labels"].get(LABEL_SHA.format(tool=tool)) == sha256
                and loaded_marker(name, user, database) == LOADED.format(tool=tool, sha256=sha256))


def wait_ready(name, user, database, timeout):
    """Until the final server answers over TCP (the entrypoint's init server is socket-only)."""
    deadline = time.monotonic() + timeout
    while True:
        probe = pgtools.run_command(["docker", "exec", name, "pg_isready", "-q", "-h", "127.0.0.1", "-U", user,
                                     "-d", database], check=False)
        if probe.returncode == 0:
            return
        info = inspect(name)
        if not info or not info["State"]["Running"]:
            logs = pgtools.run_command(["docker", "logs", "--tail", "30", name], check=False)
            raise pgtools.ToolError(f"scratch server {name} stopped while starting: {logs.stderr[-1500:]}")
        if time.monotonic() > deadline:
            raise pgtools.ToolError(f"scratch server {name} not ready after {timeout} s")
        time.sleep(1)


def load(tool, name, image, network, user, password, database, archive, sha256, jobs, timeout=300):
    """Start a fresh scratch server and restore the whole archive into it; return seconds."""
    remove(tool, name)
    env = dict(os.environ, POSTGRES_PASSWORD=password)
    argv = ["docker", "run", "--detach", "--name", name, "--label", tool, "--label", f"{LABEL_SHA.format(tool=tool)}={sha256}",
            "--network", network, "-e", f"POSTGRES_USER={user}", "-e", "POSTGRES_PASSWORD",
            "-e", f"POSTGRES_DB={database}", image, "postgres"]
    for setting in FAST_SETTINGS:
        argv += ["-c", setting]
    started = time.monotonic()
    pgtools.run_command(argv, env=env)
    wait_ready(name, user, database, timeout)
    runtime = {"image": image, "network": network, "host": name, "port": 5432, "user": user, "tool": tool}
    directory, filename = os.path.split(os.path.abspath(archive))
    pgtools.run_tool(runtime, password, "pg_restore",
                     ["--dbname", database, "--jobs", str(jobs), "--no-owner", "--no-privileges", "--exit-on-error",
                      f"/dump/{filename}"],
                     name=f"{name}-load", mounts=[(directory, "/dump", "ro")])
    comment = LOADED.format(tool=tool, sha256=sha256).replace("'", "''")
    pgtools.run_command(["docker", "exec", name, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", user,
                         "-d", database, "-c", f'COMMENT ON DATABASE "{database}" IS \'{comment}\''])
    return round(time.monotonic() - started, 2)
