"""Benchmark: offline mode against the runbook by hand and the raw copy, on one sandbox.

    bash scripts/bench.sh --size-mb 1000 --offline

On the same seeded monolith, one after the other (the new databases emptied between them):
- the runbook's Option A by hand: stop the services, pg_dump -Fc, the six pg_restore -t with
  their errors hidden as the runbook hides them, the four Alembic stamps, start the new
  services; its time, and how many of the mapped tables it got right;
- the runbook's Option B by hand: the same with pg_dump -t | psql;
- the raw limit: COPY BINARY of every mapped table from the monolith into its database, the
  six targets at once, into tables made beforehand without indexes (no stop, no proof);
- this tool: migrate.yml, its write downtime, its data plane (backup, transfer, alembic and
  verify: from the freeze to the proof), each phase, and the peak memory of the host-side
  processes during it (as bench.py samples it).
Then the ratios the offline-speed issue sets goals for. A benchmark prints figures; it does
not pass or fail on speed.
"""

import os
import re
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from sandbox import (BACKEND, MAP, PROJECT_DIR, SERVICES, ansible_playbook, psql, remove_new_databases, run,  # noqa: E402
                     table_digests)

from bench import KINDS, newest_report, sample  # noqa: E402  (scripts/ is on the path when run as a script)

PROJECT = ["docker", "compose", "--project-directory", PROJECT_DIR, "-p", "yemma"]
NEW, MONOLITH = "docker-compose.yml", "docker-compose.monolith.yml"
TARGETS = {}  # database: (container, compose service, [tables])
for _name, _spec in sorted(SERVICES.items()):
    _endpoint = _spec["endpoint"]
    TARGETS.setdefault(_endpoint["database"], (_endpoint["container"], _endpoint["compose_service"], []))[2].extend(
        _spec["tables"])
TABLES = [t for ts in MAP.values() for t in ts]


def compose(compose_file, *args, timeout=900, check=True):
    return run([*PROJECT, "-f", os.path.join(PROJECT_DIR, compose_file), *args], timeout=timeout, check=check)


def shell(command, timeout=1800):
    """A runbook line, run as the runbook runs it (its exit status and stderr returned, not checked)."""
    return subprocess.run(["bash", "-c", command], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=timeout)


def stamps():
    """The runbook's four `docker-compose run --rm <service> alembic ... stamp head`; how many failed."""
    failed = 0
    for name, spec in sorted(SERVICES.items()):
        if spec.get("alembic"):
            env = [arg for key, value in spec["alembic"]["env"].items() for arg in ("-e", f"{key}={value}")]
            failed += compose(NEW, "run", "--rm", *env, name, "alembic", *spec["alembic"]["args"], "stamp", "head",
                              check=False).returncode != 0
    return failed


def empty_targets():
    """Every target database dropped and created again; the old platform back on the monolith."""
    compose(NEW, "stop", *BACKEND)
    for database, (container, _service, _tables) in TARGETS.items():
        psql(container, "postgres", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        psql(container, "postgres", f"CREATE DATABASE {database}")
    compose(MONOLITH, "up", "-d", "--wait", *BACKEND)


def tables_right(source):
    """How many mapped tables of the new databases hold exactly the monolith's rows."""
    right = 0
    for database, (container, _service, tables) in TARGETS.items():
        present = {row[0] for row in psql(container, database, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        found = table_digests(container, database, [t for t in tables if t in present])
        right += sum(found.get(t) == source[t] for t in tables)
    return right


def runbook_option(restore_lines):
    """Stop, dump, the restores (each a shell line), stamps, start (until every service is
    healthy, or one is not): (seconds, error lines hidden, tables right, the data part's
    seconds and what failed)."""
    started = time.monotonic()
    compose(MONOLITH, "stop", *BACKEND)
    stopping = time.monotonic() - started
    source = table_digests("yemma-postgres", "yemma_db", TABLES)  # not timed
    started = time.monotonic()
    errors = 0
    for line in restore_lines:
        result = shell(line)
        errors += sum("error" in text.lower() for text in result.stderr.splitlines())
    data_seconds = time.monotonic() - started
    failed_stamps = stamps()
    started_up = compose(NEW, "up", "-d", "--wait", *BACKEND, check=False)
    seconds = stopping + time.monotonic() - started
    right = tables_right(source)
    unhealthy = [line.split()[1] for line in (started_up.stdout + started_up.stderr).splitlines()
                 if line.startswith("container ") and "unhealthy" in line]
    empty_targets()
    return seconds, errors, right, (f"data only {data_seconds:.1f} s; {failed_stamps} stamp(s) failed; "
                                    f"unhealthy: {', '.join(unhealthy) or 'none'}")


def option_a():
    dump = ["docker exec yemma-postgres pg_dump -U postgres -d yemma_db -F c -f /tmp/yemma_full_backup.dump",
            "docker cp yemma-postgres:/tmp/yemma_full_backup.dump /tmp/yemma_full_backup.dump"]
    restores = [f"docker exec -i {container} pg_restore -U postgres -d {database} --clean --if-exists "
                + " ".join(f"-t {t}" for t in tables) + " < /tmp/yemma_full_backup.dump"
                for database, (container, _service, tables) in TARGETS.items()]
    try:
        return runbook_option(dump + restores)
    finally:
        if os.path.exists("/tmp/yemma_full_backup.dump"):
            os.remove("/tmp/yemma_full_backup.dump")
        run(["docker", "exec", "yemma-postgres", "rm", "-f", "/tmp/yemma_full_backup.dump"])


def option_b():
    pipes = [f"docker exec yemma-postgres pg_dump -U postgres -d yemma_db " + " ".join(f"-t {t}" for t in tables)
             + f" | docker exec -i {container} psql -U postgres -d {database}"
             for database, (container, _service, tables) in TARGETS.items()]
    return runbook_option(pipes)


def copy_table(source_container, container, database, table):
    """COPY BINARY out of the monolith straight into the target (two psql, one pipe, nothing held;
    a SELECT, which a partitioned table needs)."""
    reader = subprocess.Popen(["docker", "exec", source_container, "psql", "-X", "-U", "postgres", "-d", "yemma_db",
                               "-v", "ON_ERROR_STOP=1", "-c", f"COPY (SELECT * FROM {table}) TO STDOUT (FORMAT binary)"],
                              stdout=subprocess.PIPE)
    writer = subprocess.run(["docker", "exec", "-i", container, "psql", "-X", "-U", "postgres", "-d", database,
                             "-v", "ON_ERROR_STOP=1", "-c", f"COPY {table} FROM STDIN (FORMAT binary)"],
                            stdin=reader.stdout, capture_output=True, text=True, timeout=3600)
    reader.stdout.close()
    if reader.wait(timeout=60) != 0 or writer.returncode != 0:
        raise RuntimeError(f"COPY {table} into {database} failed: {writer.stderr}")


def raw_copy():
    """Seconds to COPY every mapped table into its database, the six targets at once (one
    table at a time each), into tables made beforehand without indexes or constraints."""
    schema = run(["docker", "exec", "yemma-postgres", "pg_dump", "-U", "postgres", "-d", "yemma_db",
                  "--section=pre-data", "--no-owner"]).stdout
    for database, (container, _service, _tables) in TARGETS.items():
        run(["docker", "exec", "-i", container, "psql", "-X", "-q", "-U", "postgres", "-d", database,
             "-v", "ON_ERROR_STOP=1"], input=schema)
    errors = []

    def fill(database, container, tables):
        try:
            for table in tables:
                copy_table("yemma-postgres", container, database, table)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            errors.append(str(exc))

    started = time.monotonic()
    threads = [threading.Thread(target=fill, args=(database, container, tables))
               for database, (container, _service, tables) in TARGETS.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    if errors:
        sys.exit("raw copy failed: " + "; ".join(errors))
    source = {t: rows for t, (rows, _digest) in table_digests("yemma-postgres", "yemma_db", TABLES).items()}
    copied = sum(int(psql(container, database, f"SELECT count(*) FROM {t}")[0][0]) == source[t]
                 for database, (container, _service, tables) in TARGETS.items() for t in tables)
    return seconds, copied


def slowest_tasks(output):
    """The profile_tasks summary at the end of a playbook's output: ['role : task 1.23s', ...]."""
    summary = output.split("TASKS RECAP", 1)[-1]
    found = re.findall(r"^(.+?) -+ (\d+\.\d+)s$", summary, re.M)
    return [f"{re.sub(r'^[a-z_]+ : ', '', name).strip()} {seconds} s" for name, seconds in found]


def main():
    started = time.monotonic()
    compose(NEW, "up", "-d", "--wait", *sorted({service for _c, service, _t in TARGETS.values()}))
    a_seconds, a_errors, a_right, a_failed = option_a()
    b_seconds, b_errors, b_right, b_failed = option_b()
    raw_seconds, raw_right = raw_copy()
    remove_new_databases()

    peaks = {label: 0.0 for label, _ in KINDS}
    stop = threading.Event()
    sampler = threading.Thread(target=sample, args=(peaks, stop), daemon=True)
    sampler.start()
    wall = time.monotonic()
    # profile_tasks adds each task's duration; its summary (the slowest tasks) is printed below.
    result = ansible_playbook("migrate.yml", "-l", "sandbox", timeout=7200,
                              env={"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
                                   "PROFILE_TASKS_SUMMARY_ONLY": "true", "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "15"})
    wall = time.monotonic() - wall
    stop.set()
    sampler.join()
    _path, report = newest_report(result, "migrate.yml", "report.json")
    phases = report["phase_seconds"]
    downtime = float(report["completed"]["downtime_seconds"])
    data_plane = sum(float(phases.get(p, 0)) for p in ("backup", "transfer", "alembic", "verify"))
    rows = sum(t["rows"] for target in report["targets"] for t in target["tables"])

    print(f"source: {report['source_bytes'] / 2**20:.0f} MB, {len(TABLES)} mapped tables, {rows:,} rows")
    print(f"runbook Option A by hand (stop, dump, 6 restores, 4 stamps, start): {a_seconds:.1f} s; "
          f"{a_right} of {len(TABLES)} tables right; {a_errors} error lines hidden; {a_failed}")
    print(f"runbook Option B by hand (stop, 6 dump|psql, 4 stamps, start): {b_seconds:.1f} s; "
          f"{b_right} of {len(TABLES)} tables right; {b_errors} error lines hidden; {b_failed}")
    print(f"raw limit (COPY BINARY, 6 targets at once, no index, no proof): {raw_seconds:.1f} s; "
          f"{raw_right} of {len(TABLES)} tables with the source's row count")
    recap = re.search(r"yemma-sandbox\s+: ok=(\d+)\s+changed=(\d+).*?skipped=(\d+)", result.stdout)
    print(f"this tool: migrate.yml {wall:.1f} s over SSH; write downtime {downtime:.1f} s; "
          f"data plane (backup, transfer, alembic, verify) {data_plane:.1f} s; "
          f"tasks ok={recap[1]} changed={recap[2]} skipped={recap[3]}")
    print("  phases: " + ", ".join(f"{p} {phases[p]}" for p in phases))
    print("  peak resident memory during migrate.yml (MiB, summed over each kind's processes): "
          + ", ".join(f"{label} {mib:.0f}" for label, mib in peaks.items()))
    print("  slowest tasks: " + "; ".join(slowest_tasks(result.stdout)))
    print(f"ratios: downtime / Option A {downtime / a_seconds:.2f}; data plane / raw copy {data_plane / raw_seconds:.2f}")
    print(f"whole benchmark: {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
