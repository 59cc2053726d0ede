"""Benchmark: one migration of a freshly seeded sandbox, with peak memory per process kind.

    bash scripts/bench.sh --size-mb 1000

Prints the report's figures (rows, bytes, phase durations, downtime) and the peak
resident memory of each kind of host-side process, sampled every 0.2 s from /proc:
the controller (ansible-playbook), the modules Ansible runs on the host, pg_dump and
pg_restore (in their tools containers, visible from the host), and the PostgreSQL
servers. A benchmark prints figures; it does not pass or fail on speed.
"""

import glob
import json
import os
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KINDS = [  # (label, predicate on the command line)
    ("controller: ansible-playbook", lambda cmd: "bin/ansible-playbook" in cmd),
    ("host: Ansible modules (python)", lambda cmd: "AnsiballZ_" in cmd),
    ("tools container: pg_dump", lambda cmd: cmd.startswith("pg_dump")),
    ("tools container: pg_restore", lambda cmd: cmd.startswith("pg_restore")),
    ("postgres servers (all backends)", lambda cmd: cmd.startswith("postgres")),
]


def sample(peaks, stop):
    """Peak of the summed RSS (MiB) of each kind's processes."""
    while not stop.is_set():
        totals = dict.fromkeys(peaks, 0)
        for status in glob.glob("/proc/[0-9]*/status"):
            pid_dir = os.path.dirname(status)
            try:
                with open(os.path.join(pid_dir, "cmdline"), "rb") as stream:
                    cmd = stream.read().replace(b"\0", b" ").decode(errors="replace").strip()
                with open(status) as stream:
                    rss_kb = next((int(line.split()[1]) for line in stream if line.startswith("VmRSS:")), 0)
            except OSError:
                continue  # the process ended while being read
            for label, matches in KINDS:
                if cmd and matches(cmd):
                    totals[label] += rss_kb
                    break
        for label, kb in totals.items():
            peaks[label] = max(peaks[label], kb / 1024)
        time.sleep(0.2)


def passed(result, playbook):
    """Stop the benchmark, with the playbook's output, when it failed."""
    if result.returncode != 0:
        sys.stdout.write(result.stdout[-6000:] + result.stderr[-2000:])
        sys.exit(f"{playbook} failed ({result.returncode})")


def newest_report(result, playbook, name):
    """(path, content) of the newest reports/*/<name> after a playbook run, which must have passed."""
    passed(result, playbook)
    path = max(glob.glob(os.path.join(ROOT, "reports", "*", name)), key=os.path.getmtime)
    with open(path) as stream:
        return path, json.load(stream)


def main():
    peaks = {label: 0.0 for label, _ in KINDS}
    stop = threading.Event()
    sampler = threading.Thread(target=sample, args=(peaks, stop), daemon=True)
    sampler.start()
    env = dict(os.environ, PATH=f"{ROOT}/.venv/bin:{os.environ['PATH']}", ANSIBLE_CONFIG=f"{ROOT}/ansible.cfg")
    started = time.monotonic()
    result = subprocess.run([f"{ROOT}/.venv/bin/ansible-playbook", "migrate.yml", "-l", "sandbox"], cwd=ROOT,
                            env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    stop.set()
    sampler.join()
    path, report = newest_report(result, "migrate.yml", "report.json")
    tables = [t for target in report["targets"] for t in target["tables"]]
    print(f"report: {path}")
    print(f"source: {report['source_bytes'] / 1048576:.0f} MiB; backup {report['backup']['bytes'] / 1048576:.0f} MiB")
    print(f"tables: {len(tables)}; rows: {sum(t['rows'] for t in tables):,}")
    print(f"playbook wall time: {wall:.1f} s; write downtime: {report['completed']['downtime_seconds']} s")
    phases = ["preflight", "plan", "provision", "stop", "backup", "transfer", "alembic", "verify", "cutover"]
    for phase in phases:
        print(f"  phase {phase:<10} {report['phase_seconds'].get(phase, '-'):>8} s")
    print("peak resident memory (MiB, summed over the processes of each kind):")
    for label, mib in peaks.items():
        print(f"  {label:<34} {mib:>8.0f}")


if __name__ == "__main__":
    main()
