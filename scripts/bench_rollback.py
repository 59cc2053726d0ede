"""Benchmark: the lossless rollback on a migrated sandbox, under the services' write load.

    bash scripts/bench.sh --size-mb 1000 --rollback

After the migration (scripts/bench.py), it drives a bounded write load (inserts, updates,
deletes) through the new services' own endpoints and prints:
- the reverse stream's lag while they write (bytes and seconds, sampled each second);
- the WAL each slot holds after the monolith's container has been stopped for a while
  under that load, and how long the monolith then takes to catch up;
- rollback.yml's wall time and write downtime, and the rows it proved equal.
Traffic goes only to the sandbox's containers, on the Docker bridge network this project
creates. A benchmark prints figures; it does not pass or fail on speed.
"""

import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from sandbox import SERVICES, WriteLoad, ansible_playbook, psql  # noqa: E402  (the e2e helpers)

from bench import newest_report  # noqa: E402  (scripts/ is on the path when run as a script)

LOAD_SECONDS = int(os.environ.get("BENCH_LOAD_SECONDS", "60"))
AWAY_SECONDS = int(os.environ.get("BENCH_AWAY_SECONDS", "60"))
TARGETS = sorted({(spec["endpoint"]["container"], spec["endpoint"]["database"]) for spec in SERVICES.values()})
LAG_SQL = ("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint, "
           "coalesce(extract(epoch FROM r.replay_lag), 0), pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint "
           "FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid")


def loaded(seconds, during=None):
    """Run the load of reads and writes (tests/e2e/sandbox.py WriteLoad) for ``seconds``;
    ``during`` is called each second meanwhile."""
    load = WriteLoad().start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if during:
            during()
        time.sleep(1)
    return load.stop()


def lags():
    return {database: [float(v) for v in psql(container, database, LAG_SQL)[0]] for container, database in TARGETS}


def main():
    if subprocess.run(["docker", "inspect", "yemma-postgres-auth"], capture_output=True, timeout=30).returncode:
        sys.exit("migrate the sandbox first: bash scripts/bench.sh --size-mb N --rollback")
    samples = []
    counts = loaded(LOAD_SECONDS, lambda: samples.append(lags()))
    print(f"load: {counts['requests']} requests (reads and writes) in {LOAD_SECONDS} s through {', '.join(WriteLoad.WRITERS)} "
          f"({counts['failed']} failed{': ' if counts['reasons'] else ''}"
          + "; ".join(f"{reason} x{n}" for reason, n in sorted(counts["reasons"].items())) + ")")
    for _, database in TARGETS:
        lag_bytes = [s[database][0] for s in samples]
        lag_seconds = [s[database][1] for s in samples]
        print(f"  reverse lag {database:<13} bytes mean {sum(lag_bytes) / len(lag_bytes):>9.0f} max {max(lag_bytes):>9.0f}; "
              f"seconds max {max(lag_seconds):.2f}")

    subprocess.run(["docker", "stop", "yemma-postgres"], check=True, capture_output=True, timeout=120)
    counts = loaded(AWAY_SECONDS)
    held = lags()
    print(f"monolith stopped {AWAY_SECONDS} s under the load ({counts['requests']} requests): WAL held by each slot")
    for database, (_, _, kept) in held.items():
        print(f"  {database:<13} {kept / 1048576:>8.1f} MiB")
    started = time.monotonic()
    subprocess.run(["docker", "start", "yemma-postgres"], check=True, capture_output=True, timeout=120)
    goals = {d: psql(c, d, "SELECT pg_current_wal_lsn()")[0][0] for c, d in TARGETS}
    for container, database in TARGETS:
        while psql(container, database, f"SELECT confirmed_flush_lsn >= '{goals[database]}' FROM pg_replication_slots") != [["t"]]:
            time.sleep(0.2)
    print(f"monolith back: caught up with every new database in {time.monotonic() - started:.1f} s (container start included)")

    started = time.monotonic()
    result = ansible_playbook("rollback.yml", "-l", "sandbox", "-e", "rollback_confirm=yes")
    wall = time.monotonic() - started
    path, report = newest_report(result, "rollback.yml", "rollback.json")
    proof = report["proof"]
    print(f"rollback: {path}")
    print(f"  wall time {wall:.1f} s; write downtime {report['downtime_seconds']} s (new services stopped to old services healthy)")
    print(f"  proven equal: {proof['tables']} tables, {int(proof['rows']):,} rows; catch-up waits "
          + ", ".join(f"{s['target']} {s['waited_seconds']} s" for s in proof["streams"]))


if __name__ == "__main__":
    main()
