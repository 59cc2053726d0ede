"""Alembic in the services' own containers, every service at once.

Each service's head is what ``alembic heads`` prints in a one-off container of the service
(``docker compose run --rm``, as the runbook does); ``stamp head`` then runs there too where
the service's version table does not already hold exactly that head, and the table is read
back. A one-off container costs 2-3 s, so the services run side by side: the phase takes as
long as its slowest service, not the sum of all (it is in the write downtime).
"""

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.yemma.dbsplit.plugins.module_utils import pgconn, schema


class AlembicError(RuntimeError):
    pass


def compose_run_argv(compose, service, alembic, command):
    """``docker compose run`` argv of ``alembic <args> <command>`` in a one-off container of
    ``service``; the project's .env (the passwords) is read by compose, never passed here."""
    argv = ["docker", "compose", "--project-directory", compose["project_dir"], "-p", compose["project_name"],
            "-f", os.path.join(compose["project_dir"], compose["file"]), "--progress", "quiet",
            "run", "--rm", "--no-deps", "--no-TTY"]
    for name, value in sorted(alembic["env"].items()):
        argv += ["--env", f"{name}={value}"]
    return argv + ["--", service, "alembic", *alembic["args"], *command]


def run_alembic(compose, service, alembic, command, timeout):
    """Run one Alembic command; return its stdout, or raise with its stderr."""
    argv = compose_run_argv(compose, service, alembic, command)
    shown = " ".join(["alembic", *alembic["args"], *command])
    try:
        result = subprocess.run(argv, cwd=compose["project_dir"], capture_output=True, text=True, timeout=timeout,
                                stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise AlembicError(f"{service}: `{shown}` did not end within {timeout} s "
                           f"(docker ps: its one-off container may still run)") from None
    if result.returncode != 0:
        raise AlembicError(f"{service}: `{shown}` exited {result.returncode}: "
                           f"{(result.stderr.strip() or result.stdout.strip())[-2000:]}")
    return result.stdout


def single_head(output, service):
    """The one revision ``alembic heads`` marks (head); a branched history has no single head."""
    heads = [line.split()[0] for line in output.splitlines() if "(head)" in line]
    if len(heads) != 1:
        raise AlembicError(f"{service}: `alembic heads` printed {len(heads)} heads ({', '.join(heads) or output.strip()!r}): "
                           "stamp needs exactly one; merge the heads in the service's release (alembic merge heads)")
    return heads[0]


def resolve_head(compose, spec, timeout):
    return single_head(run_alembic(compose, spec["name"], spec["alembic"], ["heads"], timeout), spec["name"])


def stamp_service(psycopg, compose, spec, check_mode, timeout, head=None):
    """Resolve the service's head (unless given: resolved earlier in the run) and stamp it
    unless its version table holds exactly that; return {service, head, before, stamped}
    (``stamped``: it was, or would be in check mode)."""
    service, alembic = spec["name"], spec["alembic"]
    head = head or resolve_head(compose, spec, timeout)
    with pgconn.connect(psycopg, spec["endpoint"]) as conn:
        before = schema.alembic_versions(conn, alembic["version_table"])
    result = {"service": service, "head": head, "before": before, "stamped": before != [head]}
    if not result["stamped"] or check_mode:
        return result
    run_alembic(compose, service, alembic, ["stamp", "head"], timeout)
    with pgconn.connect(psycopg, spec["endpoint"]) as conn:
        after = schema.alembic_versions(conn, alembic["version_table"])
    if after != [head]:
        raise AlembicError(f"{service}: after `alembic stamp head`, {spec['endpoint']['db']}.{alembic['version_table']} "
                           f"holds {after}, not exactly the head {head}")
    return result


def stamp_all(psycopg, compose, services, check_mode, timeout, heads=None):
    """Stamp every service at once; return their results, or raise naming every service that
    failed (the others are stamped and proven). ``heads``: {service: revision} resolved earlier
    in the run, not asked again."""
    heads = heads or {}
    return each_service(services, lambda spec: stamp_service(psycopg, compose, spec, check_mode, timeout,
                                                             heads.get(spec["name"])), (AlembicError, psycopg.Error))


def resolve_all(compose, services, timeout):
    """Every service's head at once ({service, head}); reads the services' scripts only."""
    return each_service(services, lambda spec: {"service": spec["name"], "head": resolve_head(compose, spec, timeout)},
                        (AlembicError,))


def each_service(services, work, errors_caught):
    if not services:
        return []
    with ThreadPoolExecutor(max_workers=len(services)) as pool:
        futures = [pool.submit(work, spec) for spec in services]
    results, errors = [], []
    for future in futures:
        try:
            results.append(future.result())
        except errors_caught as exc:
            errors.append(str(exc).strip())
    if errors:
        raise AlembicError("\n- ".join(["Alembic failed:"] + errors))
    return results
