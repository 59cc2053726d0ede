#!/usr/bin/env bash
# Benchmark the migration at a given size: reseed the sandbox from nothing, migrate it,
# print rows, MB, phase durations, downtime and peak memory per process kind.
#   bash scripts/bench.sh [--size-mb N] [--rollback | --paths | --online | --offline | --matrix | --diff]   (default 1000; generating 1 GB takes about a minute)
# --rollback: then writes through the new services, stops the monolith for a while, and rolls
# back (scripts/bench_rollback.py: reverse-stream lag, WAL held, rollback time and downtime).
# --paths: instead, install.yml from nothing, reset.yml from the backup and rollback.yml with the
# monolith's volume deleted (scripts/bench_paths.py; each from a fresh sandbox of that size).
# --online: instead, online mode under a load of reads and writes through the old services: the
# copy's throughput and lag, the failed requests, the cutover's downtime against the services'
# own stop and start (scripts/bench_online.py).
# --offline: instead, the runbook's Options A and B by hand, the raw COPY limit and this tool's
# offline migration on the same data, with the ratios of the offline-speed goals
# (scripts/bench_offline.py).
# --matrix: instead, for each pair of PostgreSQL versions (monolith -> new databases), a migration
# and its rollback offline and online, each from a fresh sandbox of that size (10 pairs of runs:
# --size-mb 100 takes about half an hour; scripts/bench_matrix.py).
# --diff: instead, naming the rows that differ in the largest table (1, 100, 10,000 of them)
# against its plain proof, with peak memory, and verify.yml's wall time (scripts/bench_diff.py).
# It tears the current sandbox down first.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"
SIZE_MB=1000
ROLLBACK=false
PATHS=false
ONLINE=false
OFFLINE=false
MATRIX=false
DIFF=false
while [ $# -gt 0 ]; do
    case "$1" in
        --size-mb) SIZE_MB="${2:?--size-mb needs a number}"; shift 2 ;;
        --rollback) ROLLBACK=true; shift ;;
        --paths) PATHS=true; shift ;;
        --online) ONLINE=true; shift ;;
        --offline) OFFLINE=true; shift ;;
        --matrix) MATRIX=true; shift ;;
        --diff) DIFF=true; shift ;;
        *) die "usage: bash scripts/bench.sh [--size-mb N] [--rollback | --paths | --online | --offline | --matrix | --diff]" ;;
    esac
done
bash scripts/bootstrap.sh
bash scripts/ensure-dockerd.sh
bash scripts/ensure-sshd.sh
if [ "$MATRIX" = true ]; then
    BENCH_SIZE_MB="$SIZE_MB" exec "$REPO_ROOT/.venv/bin/python" scripts/bench_matrix.py
fi
if [ "$PATHS" = true ]; then
    BENCH_SIZE_MB="$SIZE_MB" exec "$REPO_ROOT/.venv/bin/python" scripts/bench_paths.py
fi
bash sandbox/sandbox.sh down
bash sandbox/sandbox.sh up --size-mb "$SIZE_MB"
if [ "$ONLINE" = true ]; then
    exec "$REPO_ROOT/.venv/bin/python" scripts/bench_online.py
fi
if [ "$OFFLINE" = true ]; then
    exec "$REPO_ROOT/.venv/bin/python" scripts/bench_offline.py
fi
if [ "$DIFF" = true ]; then
    exec "$REPO_ROOT/.venv/bin/python" scripts/bench_diff.py
fi
"$REPO_ROOT/.venv/bin/python" scripts/bench.py
if [ "$ROLLBACK" = true ]; then
    "$REPO_ROOT/.venv/bin/python" scripts/bench_rollback.py
fi
