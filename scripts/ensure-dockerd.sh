#!/usr/bin/env bash
# Make sure a Docker engine answers. Nothing (no systemd) keeps dockerd running between
# sessions or in CI, so start it ourselves when `docker info` fails.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

if docker info >/dev/null 2>&1; then
    exit 0
fi
command -v dockerd >/dev/null || die "dockerd not installed: run scripts/bootstrap.sh first"
log "dockerd: not answering, starting it (log: /var/log/dockerd.log)"
# setsid: the daemon must outlive this script and not get the caller's job-control signals.
setsid dockerd >>/var/log/dockerd.log 2>&1 </dev/null &
pid=$!
for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then
        log "dockerd: up (pid $pid)"
        exit 0
    fi
    kill -0 "$pid" 2>/dev/null || { tail -n 20 /var/log/dockerd.log >&2; die "dockerd exited during start-up"; }
    sleep 1
done
tail -n 20 /var/log/dockerd.log >&2
die "dockerd did not answer within 60 s"
