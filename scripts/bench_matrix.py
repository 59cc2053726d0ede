"""Benchmark the version matrix: for each pair (monolith -> new databases), a migration and its
rollback offline, then online, each from a freshly seeded sandbox of that pair.

    bash scripts/bench.sh --matrix [--size-mb N]

Prints one line per pair and mode: the migration's wall time and write downtime, the rollback's
wall time and downtime (new services stopped to old services healthy), from the reports. Online
mode restarts the monolith's postgres for wal_level = logical (dbsplit_monolith_restart). A
benchmark prints figures; it does not pass or fail on speed.
"""

import glob
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "collections"))
from ansible_collections.yemma.dbsplit.plugins.plugin_utils import versions  # noqa: E402

SIZE_MB = os.environ.get("BENCH_SIZE_MB", "100")
PAIRS = [(source, target) for source in versions.SOURCE_MAJORS for target in versions.TARGET_MAJORS if target >= source]
MODES = {"offline": [], "online": ["-e", "dbsplit_mode=online", "-e", "dbsplit_monolith_restart=true"]}


def playbook(*args):
    """(wall seconds, newest report of the run) of one playbook run, which must pass."""
    env = dict(os.environ, PATH=f"{ROOT}/.venv/bin:{os.environ['PATH']}", ANSIBLE_CONFIG=f"{ROOT}/ansible.cfg")
    started = time.monotonic()
    result = subprocess.run([f"{ROOT}/.venv/bin/ansible-playbook", *args, "-l", "sandbox"], cwd=ROOT, env=env,
                            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=7200)
    wall = time.monotonic() - started
    if result.returncode != 0:
        sys.stdout.write(result.stdout[-6000:] + result.stderr[-2000:])
        sys.exit(f"{args[0]} failed ({result.returncode})")
    name = "rollback.json" if args[0] == "rollback.yml" else "report.json"
    with open(max(glob.glob(os.path.join(ROOT, "reports", "*", name)), key=os.path.getmtime)) as stream:
        return wall, json.load(stream)


def sandbox(*args):
    subprocess.run(["bash", "sandbox/sandbox.sh", *args], cwd=ROOT, check=True, capture_output=True, timeout=3600)


def main():
    print(f"version matrix at {SIZE_MB} MB: migrate.yml then rollback.yml, each pair and mode from a fresh sandbox")
    print(f"{'pair':<9}{'mode':<9}{'migrate s':>10}{'downtime s':>12}{'rollback s':>12}{'downtime s':>12}{'rows':>12}")
    for source, target in PAIRS:
        for mode, extra in MODES.items():
            sandbox("down")
            sandbox("up", "--size-mb", SIZE_MB, "--pg", f"{source}:{target}")
            migrate_wall, report = playbook("migrate.yml", *extra)
            rows = sum(t["rows"] for each in report["targets"] for t in each["tables"])
            rollback_wall, rollback = playbook("rollback.yml", "-e", "rollback_confirm=true", *extra)
            print(f"{f'{source}->{target}':<9}{mode:<9}{migrate_wall:>10.1f}{report['completed']['downtime_seconds']:>12}"
                  f"{rollback_wall:>12.1f}{rollback['downtime_seconds']:>12}{rows:>12,}", flush=True)
    sandbox("down")


if __name__ == "__main__":
    main()
