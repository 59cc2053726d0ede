"""Benchmark: online mode on a freshly seeded sandbox, under a small load of reads and writes.

    bash scripts/bench.sh --size-mb 1000 --online

Prints, in one run on the same data:
- the raw limit: COPY BINARY of every mapped table into its database, the six at once, into
  tables without indexes (scripts/bench_offline.py's), measured first on the idle monolith;
- the services' latency without a copy: the load alone for BASELINE_SECONDS (p50, p99);
- the online copy under the same load: its rows' time and throughput against the raw limit,
  the index build, the whole transfer; the load's requests, failures and latency meanwhile;
  the largest lag of a target and the most WAL a slot held on the monolith (sampled each second);
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
from sandbox import BACKEND, PROJECT_DIR, WriteLoad, ansible_playbook, psql, remove_new_databases  # noqa: E402

from bench import newest_report, passed  # noqa: E402  (scripts/ is on the path when run as a script)
from bench_offline import NEW, TARGETS, compose, raw_copy  # noqa: E402

ONLINE = ["-e", "dbsplit_mode=online"]
BASELINE_SECONDS = 60
# profile_tasks prints the slowest tasks at the end of a run: where the time goes.
PROFILE = {"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks", "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "25"}
# The largest lag (WAL not yet applied) and WAL held (not yet released) of the copy's slots.
SLOTS_SQL = ("SELECT coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)), 0)::bigint, "
             "coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)), 0)::bigint "
             "FROM pg_replication_slots WHERE slot_name LIKE 'dbsplit\\_online\\_%'")


def sample_slots(peak, stop):
    while not stop.is_set():
        try:
            lag, held = (int(value) for value in psql("yemma-postgres", "yemma_db", SLOTS_SQL)[0])
            peak["lag"], peak["held"] = max(peak["lag"], lag), max(peak["held"], held)
        except (AssertionError, IndexError, ValueError, subprocess.TimeoutExpired):
            pass  # the monolith busy or restarting: the next sample counts
        stop.wait(1)


def load_line(counts):
    failed = "; ".join(f"{reason} x{n}" for reason, n in sorted(counts["reasons"].items()))
    return (f"{counts['requests']} requests, {counts['failed']} failed" + (f" ({failed})" if failed else "")
            + f", latency p50 {counts['p50_ms']} ms, p99 {counts['p99_ms']} ms")


def compose_seconds(*args):
    started = time.monotonic()
    subprocess.run(["docker", "compose", "-p", "yemma", "-f", "docker-compose.monolith.yml", *args], cwd=PROJECT_DIR,
                   check=True, capture_output=True, timeout=600)
    return time.monotonic() - started


def main():
    started = time.monotonic()
    compose(NEW, "up", "-d", "--wait", *sorted({service for _c, service, _t in TARGETS.values()}))
    raw_seconds, raw_right = raw_copy()
    remove_new_databases()

    prepared = ansible_playbook("migrate.yml", "-l", "sandbox", "--tags", "preflight,plan,stop", *ONLINE,
                                "-e", "dbsplit_monolith_restart=true")
    passed(prepared, "migrate.yml (preflight, plan, stop: the monolith's restart)")
    time.sleep(10)  # the old services reconnect after the monolith's restart
    baseline = WriteLoad().start()
    time.sleep(BASELINE_SECONDS)
    alone = baseline.stop()

    load, peak, stop = WriteLoad().start(), {"lag": 0, "held": 0}, threading.Event()
    sampler = threading.Thread(target=sample_slots, args=(peak, stop), daemon=True)
    sampler.start()
    copy_started = time.monotonic()
    copied = ansible_playbook("migrate.yml", "-l", "sandbox", *ONLINE, "--skip-tags", "cutover", env=PROFILE)
    copy_wall = time.monotonic() - copy_started
    stop.set()
    counts = load.stop()
    _, report = newest_report(copied, "migrate.yml (online, up to the cutover)", "report.json")
    transfer = report["online_copy"] or {}

    floor = compose_seconds("stop", *BACKEND) + compose_seconds("up", "-d", "--wait", *BACKEND)

    cut = ansible_playbook("migrate.yml", "-l", "sandbox", *ONLINE, env=PROFILE)
    _, report = newest_report(cut, "migrate.yml (online cutover)", "report.json")
    downtime = float(report["completed"]["downtime_seconds"])
    mb = int(transfer.get("copy_bytes", 0)) / 2**20
    copy_seconds = float(transfer.get("copy_seconds", 0)) or 1
    rows = sum(int(t["rows"]) for target in report["targets"] for t in target["tables"])
    print(f"source: {report['source']} {int(report['source_bytes']) / 2**20:.0f} MB, {rows:,} rows proven at the freeze")
    print(f"raw limit (COPY BINARY, 6 targets at once, no index, idle monolith): {raw_seconds:.1f} s; "
          f"{raw_right} tables with the source's row count")
    print(f"online copy of the rows: {mb:.0f} MB of table data in {copy_seconds:.1f} s ({mb / copy_seconds:.1f} MB/s, "
          f"{copy_seconds / raw_seconds:.2f} x the raw limit; {transfer.get('parts')} parts, {transfer.get('formats')}, "
          f"paused {transfer.get('paused_seconds')} s); index build {transfer.get('build_seconds')} s; whole transfer "
          f"{transfer.get('seconds')} s ({float(transfer.get('seconds', 0)) / raw_seconds:.2f} x raw); "
          f"migrate.yml up to the cutover {copy_wall:.1f} s")
    print(f"load without a copy ({BASELINE_SECONDS} s): {load_line(alone)}")
    print(f"load during the online transfer ({copy_wall:.0f} s): {load_line(counts)}")
    print(f"largest lag of a target: {peak['lag'] / 2**20:.1f} MB of WAL; most WAL a slot held on the monolith: "
          f"{peak['held'] / 2**20:.1f} MB")
    print(f"floor (the old services' own stop and start): {floor:.1f} s")
    print(f"cutover write downtime: {downtime:.1f} s ({downtime / floor:.2f} x the floor); "
          f"phases: {report['phase_seconds']}")
    for what, run_ in (("copy", copied), ("cutover", cut)):
        print(f"the {what} run's slowest tasks (profile_tasks):")
        timings = run_.stdout[run_.stdout.rfind("==============================================================================="):]
        print("\n".join(line for line in timings.splitlines()[1:] if line.strip()))
    print(f"whole benchmark: {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
