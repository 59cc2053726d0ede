"""Benchmark: naming the rows that differ (module_utils/diff.py), in the largest table.

    bash scripts/bench.sh --size-mb 1000 --diff

Migrates the freshly seeded sandbox without a reverse stream (the monolith stays as the new
databases were filled) and stops the notification worker (it stamps sent_at on notifications,
which would differ too), then, on the largest table of the plan, prints:
- its plain proof: both sides' row count and checksums, scanned at once as the proof does;
- for 1, 100 and 10,000 of its rows deleted from its new database (kept aside and put back after),
  the time to name them, the buckets read again, the keys counted, and the peak resident memory of
  the process that named them (a child of its own, so each figure is its own);
- verify.yml's wall time on the whole platform, every table equal, then with the 10,000 rows gone.
Connections go to the sandbox's containers only. A benchmark prints figures; it does not pass or
fail on speed.
"""

import json
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, os.path.join(ROOT, "collections"))
from sandbox import PROJECT_DIR, SERVICES, ansible_playbook, container_ip, psql, run  # noqa: E402  (the e2e helpers)

import psycopg  # noqa: E402
from ansible_collections.yemma.dbsplit.plugins.module_utils import diff, pgconn, verify  # noqa: E402

COUNTS = (1, 100, 10000)
SAVED = "dbsplit_bench_saved"


def env_file():
    values = {}
    with open(os.path.join(PROJECT_DIR, ".env")) as source:
        for line in source:
            if "=" in line and not line.lstrip().startswith("#"):
                key, value = line.strip().split("=", 1)
                values[key] = value
    return values


def endpoint(container, database):
    values = env_file()
    return {"login_host": container_ip(container), "login_port": 5432, "login_user": values["DB_USER"],
            "login_password": values["DB_PASSWORD"], "db": database, "tool_name": "dbsplit-bench"}


def largest_table():
    """(container, database, table, bytes) of the largest planned table in its new database."""
    sizes = []
    for spec in SERVICES.values():
        container, database = spec["endpoint"]["container"], spec["endpoint"]["database"]
        for table in spec["tables"]:
            (size,), = psql(container, database, f"SELECT pg_relation_size('public.{table}')")
            sizes.append((int(size), container, database, f"public.{table}"))
    size, container, database, table = max(sizes)
    return container, database, table, size


def plain_proof(source, target, table):
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        src, dst = pool.map(lambda params: verify.measure_table(psycopg, params, None, table), (source, target))
    return round(time.monotonic() - started, 2), src, dst


def localise_in_child(endpoints, table, rows):
    """Name the differing rows in a child process (its own peak memory); the endpoints go by
    environment, never on the command line."""
    result = subprocess.run([sys.executable, __file__, "--localise", table, str(rows)], capture_output=True, text=True,
                            timeout=3600, env={**os.environ, "BENCH_ENDPOINTS": json.dumps(endpoints)}, check=True)
    return json.loads(result.stdout)


def localise_here(table, rows):
    source, target = json.loads(os.environ["BENCH_ENDPOINTS"])
    started = time.monotonic()
    found = verify.localise_table(psycopg, source, target, {}, table, int(rows), 20)
    print(json.dumps({"seconds": round(time.monotonic() - started, 2), "buckets": found["buckets"],
                      "differing_buckets": found["differing_buckets"], "counts": found["counts"],
                      "peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


def take_rows(container, database, table, key, count):
    """Delete ``count`` rows at random from the new database's table, kept aside (the foreign keys
    that point at them are not checked meanwhile: session_replication_role)."""
    columns = ", ".join(key)
    psql(container, database, f"SET session_replication_role = replica; CREATE TABLE {SAVED} AS SELECT * FROM {table} "
                               f"WHERE ({columns}) IN (SELECT {columns} FROM {table} ORDER BY random() LIMIT {count}); "
                               f"DELETE FROM {table} WHERE ({columns}) IN (SELECT {columns} FROM {SAVED})")


def put_back(container, database, table):
    psql(container, database, f"SET session_replication_role = replica; INSERT INTO {table} OVERRIDING SYSTEM VALUE "
                               f"SELECT * FROM {SAVED}; DROP TABLE {SAVED}")


def timed_playbook(*args):
    started = time.monotonic()
    result = ansible_playbook(*args, timeout=7200)
    return round(time.monotonic() - started, 1), result


def main():
    migrated = ansible_playbook("migrate.yml", "-l", "sandbox", "-e", '{"dbsplit_reverse_stream": false}', timeout=7200)
    if migrated.returncode:
        sys.exit(migrated.stdout[-4000:] + migrated.stderr[-2000:])
    run(["docker", "stop", "yemma-notification-worker"], timeout=120)
    container, database, table, size = largest_table()
    source, target = endpoint("yemma-postgres", "yemma_db"), endpoint(container, database)
    seconds, src, dst = plain_proof(source, target, table)
    rows = src["rows"]
    print(f"largest table: {table} in {database}: {rows} rows, {size / 1048576:.0f} MB (heap)")
    print(f"plain proof (count and checksums, both sides at once): {seconds} s, equal: {src['checksum'] == dst['checksum']}")
    with pgconn.connect(psycopg, source) as conn:
        key = diff.relation_key(conn, table)
    for count in COUNTS:
        take_rows(container, database, table, key, count)
        try:
            named = localise_in_child([source, target], table, rows)
        finally:
            put_back(container, database, table)
        print(f"{count} rows missing: named in {named['seconds']} s ({named['seconds'] / seconds:.1f} x the plain proof), "
              f"{named['differing_buckets']} of {named['buckets']} buckets read again, counted {named['counts']}, "
              f"peak memory {named['peak_mib']} MiB")
    equal_seconds, equal = timed_playbook("verify.yml", "-l", "sandbox")
    print(f"verify.yml, every table equal: {equal_seconds} s (exit {equal.returncode})")
    take_rows(container, database, table, key, COUNTS[-1])
    try:
        differing_seconds, differing = timed_playbook("verify.yml", "-l", "sandbox")
    finally:
        put_back(container, database, table)
    line = next((line.strip() for line in differing.stdout.splitlines() if line.strip().startswith("verify: ")), "")
    print(f"verify.yml, {COUNTS[-1]} rows of {table} missing: {differing_seconds} s (exit {differing.returncode}): {line}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--localise"]:
        localise_here(*sys.argv[2:4])
    else:
        main()
