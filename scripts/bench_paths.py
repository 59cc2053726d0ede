"""Benchmark: the runbook's other paths on the sandbox, at a given size.

    bash scripts/bench.sh --size-mb 1000 --paths

Prints, for each path, its wall time and what its report says:
- install.yml on a host with nothing started (the size does not matter: empty databases);
- reset.yml of the candidate database from the migration backup (after a migration without
  a reverse stream, forced since the services ran on it): time from its services' stop to
  their start, rows proven;
- rollback.yml with the monolith's volume deleted: with the reverse stream (tables refilled
  from the new databases) and without it (the backup restored whole): wall time, write
  downtime, rows proven.
Each sequence starts from a fresh sandbox (it tears the current one down). A benchmark prints
figures; it does not pass or fail on speed.
"""

import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from sandbox import ansible_playbook, container_ip, http_json, psql, sandbox  # noqa: E402  (the e2e helpers)

from bench import newest_report  # noqa: E402  (scripts/ is on the path when run as a script)

SIZE_MB = int(os.environ.get("BENCH_SIZE_MB", "1000"))
NO_STREAM = '{"dbsplit_reverse_stream": false}'


def timed(playbook, *args):
    started = time.monotonic()
    result = ansible_playbook(playbook, "-l", "sandbox", *args, timeout=7200)
    return round(time.monotonic() - started, 1), result


def fresh(size_mb=None):
    sandbox("down")
    if size_mb is None:
        sandbox("up", "--empty")
    else:
        sandbox("up", "--size-mb", str(size_mb))


def monolith_size():
    (size,), = psql("yemma-postgres", "yemma_db", "SELECT pg_size_pretty(pg_database_size('yemma_db'))")
    return size


def lose_monolith_volume():
    subprocess.run(["docker", "rm", "--force", "--volumes", "yemma-postgres"], check=True, capture_output=True, timeout=120)
    subprocess.run(["docker", "volume", "rm", "yemma_postgres_data"], check=True, capture_output=True, timeout=120)


def rebuild_line(result):
    """The rebuild's own line: "yemma_db restored from backup ... (N entries, S s)"."""
    text = " ".join(result.stdout.split())
    start = text.find("yemma_db restored from backup")
    return text[start:text.find(")", start) + 1] if start >= 0 else "(no rebuild line)"


def main():
    print("== install.yml from nothing (empty databases)")
    fresh()
    wall, result = timed("install.yml")
    _path, report = newest_report(result, "install.yml", "install.json")
    print(f"install: {wall} s wall; databases {report['seconds']['databases']} s, schema {report['seconds']['schema']} s, "
          f"services {report['seconds']['services']} s")

    print(f"== reset.yml -e service=candidate from the migration backup ({SIZE_MB} MB sandbox, no reverse stream)")
    fresh(SIZE_MB)
    print(f"yemma_db: {monolith_size()}")
    wall, result = timed("migrate.yml", "-e", NO_STREAM)
    newest_report(result, "migrate.yml", "report.json")
    wall, result = timed("reset.yml", "-e", "service=candidate", "-e", "reset_confirm=yes", "-e", "reset_force=yes")
    _path, report = newest_report(result, "reset.yml", "reset.json")
    print(f"reset: {wall} s wall; candidate stopped {report['seconds']} s; {report['tables']} tables, {report['rows']} rows proven")

    print("== rollback.yml with the monolith's volume deleted, no reverse stream (the backup restored whole)")
    lose_monolith_volume()
    wall, result = timed("rollback.yml", "-e", "rollback_confirm=yes")
    _path, report = newest_report(result, "rollback.yml", "rollback.json")
    print(f"rollback: {wall} s wall, write downtime {report['downtime_seconds']} s; {rebuild_line(result)}")

    print(f"== rollback.yml with the monolith's volume deleted, reverse stream ({SIZE_MB} MB sandbox)")
    fresh(SIZE_MB)
    wall, result = timed("migrate.yml")
    newest_report(result, "migrate.yml", "report.json")
    for service in ("auth", "payment", "document"):
        http_json(f"http://{container_ip('yemma-' + service)}:8000/items", "POST", {}, status=201)
    lose_monolith_volume()
    wall, result = timed("rollback.yml", "-e", "rollback_confirm=yes")
    _path, report = newest_report(result, "rollback.yml", "rollback.json")
    print(f"rollback: {wall} s wall, write downtime {report['downtime_seconds']} s; {rebuild_line(result)}; "
          f"{report['proof'].get('tables')} tables, {report['proof'].get('rows')} rows proven equal to the new databases")
    sandbox("down")


if __name__ == "__main__":
    main()
