#!/usr/bin/env bash
# The main job on the embedded sandbox: bring up the old yemma platform with sample
# data (if not up yet), then migrate it over SSH with migrate.yml and print the report.
#   bash scripts/demo.sh [--size-mb N] [--pg M:N]   (N: size of the generated monolith, default 10;
#                                                 --pg: PostgreSQL of the monolith and the new databases)
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"
T0=$(now)

bash scripts/bootstrap.sh
bash scripts/ensure-dockerd.sh
bash scripts/ensure-sshd.sh
bash sandbox/sandbox.sh up "$@"
export PATH="$REPO_ROOT/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$REPO_ROOT/ansible.cfg"
log "ansible-playbook migrate.yml -l sandbox (over SSH to 127.0.0.1:${SANDBOX_SSH_PORT:-2222})"
ansible-playbook migrate.yml -l sandbox
log "demo done in $(since "$T0") s; reports in $REPO_ROOT/reports/"
