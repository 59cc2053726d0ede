#!/usr/bin/env bash
# The test suite. On a fresh Debian 12 machine it installs what it needs first.
#   bash scripts/test.sh          everything: unit, lint, end-to-end
#   bash scripts/test.sh unit     unit tests and lint only (seconds, no Docker)
#   bash scripts/test.sh e2e      end-to-end on the real sandbox (Docker, SSH, Ansible):
#                                 pytest tests/e2e, then the molecule scenario
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
TIER="${1:-all}"
case "$TIER" in all|unit|e2e) ;; *) die "usage: bash scripts/test.sh [all|unit|e2e]" ;; esac
cd "$REPO_ROOT"
T0=$(now)

bash scripts/bootstrap.sh
export PATH="$REPO_ROOT/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$REPO_ROOT/ansible.cfg"

if [ "$TIER" != e2e ]; then
    log "lint: ansible-lint (production profile), ansible-doc of every custom module"
    ansible-lint --profile production --strict -q migrate.yml rollback.yml finish.yml install.yml reset.yml playbooks roles molecule
    for module in library/*.py; do
        ansible-doc -M library "$(basename "$module" .py)" >/dev/null
    done
fi

targets=()
[ "$TIER" != e2e ] && targets+=(tests/unit)
[ "$TIER" != unit ] && targets+=(tests/e2e)
if [ "$TIER" != unit ]; then
    bash scripts/ensure-dockerd.sh
    bash scripts/ensure-sshd.sh
fi
log "pytest ${targets[*]}"
python -m pytest -p no:cacheprovider --durations=0 "${targets[@]}"
if [ "$TIER" != unit ]; then
    # The whole migration on the sandbox: converge, idempotence (a second run changes
    # nothing), independent verification (molecule/default/verify.yml).
    log "molecule test (scenario default)"
    T1=$(now)
    molecule test
    log "molecule done in $(since "$T1") s"
fi
log "tests done in $(since "$T0") s"
