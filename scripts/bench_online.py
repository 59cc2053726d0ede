"""Benchmark: online mode on a freshly seeded sandbox, under a small load of reads and writes.

    bash scripts/bench.sh --size-mb 1000 --online

Prints, in one run on the same data:
- the online copy: bytes, seconds and throughput, while the old services serve a load
  through their endpoints (requests made and failed, counted), and the lag of each target
  sampled each second (its largest value);
- the floor of any cutover: the old services' own stop and start (compose stop, then up
  --wait), measured on the same sandbox before the cutover;
- the cutover's write downtime (services stopped to services healthy, from the report),
  and its ratio to that floor.
The monolith's restart for wal_level is made first, as an operator schedules it. A benchmark
prints figures; it does not pass or fail on speed.
"""

import os
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from sandbox import BACKEND, PROJECT_DIR, WriteLoad, ansible_playbook, psql  # noqa: E402  (the e2e helpers)

from bench import newest_report, passed  # noqa: E402  (scripts/ is on the path when run as a script)

ONLINE = ["-e", "dbsplit_mode=online"]
LAG_SQL = ("SELECT coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)), 0)::bigint "
           "FROM pg_replication_slots WHERE slot_name LIKE 'dbsplit\\_online\\_%'")


def sample_lag(peak, stop):
    while not stop.is_set():
        try:
            peak["bytes"] = max(peak["bytes"], int(psql("yemma-postgres", "yemma_db", LAG_SQL)[0][0]))
        except (AssertionError, IndexError, ValueError, subprocess.TimeoutExpired):
            pass  # the monolith busy or restarting: the next sample counts
        stop.wait(1)


def compose_seconds(*args):
    started = time.monotonic()
    subprocess.run(["docker", "compose", "-p", "yemma", "-f", "docker-compose.monolith.yml", *args], cwd=PROJECT_DIR,
                   check=True, capture_output=True, timeout=600)
    return time.monotonic() - started


def main():
    started = time.monotonic()
    prepared = ansible_playbook("migrate.yml", "-l", "sandbox", "--tags", "preflight,plan,stop", *ONLINE,
                                "-e", "dbsplit_monolith_restart=true")
    passed(prepared, "migrate.yml (preflight, plan, stop: the monolith's restart)")
    time.sleep(10)  # the old services reconnect after the monolith's restart

    load, peak, stop = WriteLoad().start(), {"bytes": 0}, threading.Event()
    sampler = threading.Thread(target=sample_lag, args=(peak, stop), daemon=True)
    sampler.start()
    copy_started = time.monotonic()
    copied = ansible_playbook("migrate.yml", "-l", "sandbox", *ONLINE, "--skip-tags", "cutover")
    copy_wall = time.monotonic() - copy_started
    stop.set()
    counts = load.stop()
    _, report = newest_report(copied, "migrate.yml (online, up to the cutover)", "report.json")
    transfer = report["online_copy"] or {}

    floor = compose_seconds("stop", *BACKEND) + compose_seconds("up", "-d", "--wait", *BACKEND)

    # profile_tasks prints the slowest tasks at the end: where the downtime goes.
    cut = ansible_playbook("migrate.yml", "-l", "sandbox", *ONLINE,
                           env={"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks", "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "25"})
    _, report = newest_report(cut, "migrate.yml (online cutover)", "report.json")
    downtime = float(report["completed"]["downtime_seconds"])
    mb = int(transfer.get("bytes", 0)) / 2**20
    seconds = float(transfer.get("seconds", 0)) or 1
    rows = sum(int(t["rows"]) for target in report["targets"] for t in target["tables"])
    print(f"source: {report['source']} {int(report['source_bytes']) / 2**20:.0f} MB, {rows:,} rows proven at the freeze")
    print(f"online copy: {transfer.get('tables')} tables, {mb:.0f} MB of table data in {seconds:.1f} s "
          f"({mb / seconds:.1f} MB/s); migrate.yml up to the cutover {copy_wall:.1f} s")
    print(f"load on the old services during the copy: {counts['requests']} requests, {counts['failed']} failed"
          + (" (" + "; ".join(f"{r} x{n}" for r, n in sorted(counts["reasons"].items())) + ")" if counts["failed"] else ""))
    print(f"largest lag of a target during the copy: {peak['bytes'] / 1024:.0f} kB of WAL")
    print(f"floor (the old services' own stop and start): {floor:.1f} s")
    print(f"cutover write downtime: {downtime:.1f} s ({downtime / floor:.2f} x the floor); "
          f"phases: {report['phase_seconds']}")
    print("the cutover run's slowest tasks (profile_tasks):")
    timings = cut.stdout[cut.stdout.rfind("==============================================================================="):]
    print("\n".join(line for line in timings.splitlines()[1:] if line.strip()))
    print(f"whole benchmark: {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
