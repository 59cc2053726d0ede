#!/usr/bin/env bash
# Install everything the project needs on a fresh Debian 12 machine (root).
# Idempotent and quick when already done: apt only runs for missing packages, the
# Compose plugin is only fetched when `docker compose` is missing or too old, and the
# venv is only rebuilt when requirements.txt changes.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

[ "$(id -u)" -eq 0 ] || die "bootstrap.sh must run as root (apt, dockerd, sshd)"
export DEBIAN_FRONTEND=noninteractive
T0=$(now)

# ------------------------------------------------------------------ apt packages
# docker.io: engine + CLI; debootstrap: builds the images with no registry;
# openssh-*: the sandbox "VPS"; python3-psycopg/requests: what Ansible modules need on
# the managed host's system interpreter; python3-venv: the controller venv.
APT_PACKAGES=(
    docker.io openssh-server openssh-client debootstrap debian-archive-keyring
    python3 python3-venv python3-psycopg python3-requests
    make ca-certificates tar gzip
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
    # dpkg-query is ~ms per package; "install ok installed" is the only good state.
    if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "apt: installing ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    log "apt: all ${#APT_PACKAGES[@]} packages present"
fi

# ------------------------------------------------------------------ Compose v2
# Debian 12 has no Compose v2; trixie's docker-compose .deb holds it as one static
# binary. We only *extract* it (dpkg -x) through a private apt configuration, so the
# system's apt state never sees trixie.
compose_ok() {
    local v
    v="$(docker compose version --short 2>/dev/null)" || return 1
    v="${v#v}"
    # True when v >= 2.18
    [ "$(printf '%s\n2.18.0\n' "$v" | sort -V | head -n1)" = "2.18.0" ]
}
if compose_ok; then
    log "compose: $(docker compose version --short) present"
else
    log "compose: fetching docker-compose from trixie (extract only)"
    IFS=$'\t' read -r MIRROR SIGNED_BY < <(debian_mirror)
    PRIV=/var/cache/yemma-bootstrap/trixie-apt
    rm -rf "$PRIV"
    mkdir -p "$PRIV/sources" "$PRIV/lists/partial" "$PRIV/cache/archives/partial" "$PRIV/deb"
    {
        echo "Types: deb"
        echo "URIs: $MIRROR"
        echo "Suites: trixie"
        echo "Components: main"
        if [ -n "$SIGNED_BY" ]; then echo "Signed-By: $SIGNED_BY"; fi
    } >"$PRIV/sources/trixie.sources"
    # Private lists *and* private pkgcache: the system's /var/cache/apt must not be
    # rebuilt from trixie indexes.
    APT_PRIV=(
        -o "Dir::Etc::SourceList=/dev/null"
        -o "Dir::Etc::SourceParts=$PRIV/sources"
        -o "Dir::State::Lists=$PRIV/lists"
        -o "Dir::Cache=$PRIV/cache"
        -o "APT::Get::List-Cleanup=false"
    )
    apt-get "${APT_PRIV[@]}" update -qq
    (cd "$PRIV/deb" && apt-get "${APT_PRIV[@]}" download docker-compose)
    deb="$(ls "$PRIV"/deb/docker-compose_*.deb)"
    dpkg -x "$deb" "$PRIV/extract"
    install -D -m 0755 "$PRIV/extract/usr/libexec/docker/cli-plugins/docker-compose" \
        /usr/local/lib/docker/cli-plugins/docker-compose
    rm -rf "$PRIV"
    compose_ok || die "docker compose still missing or < 2.18 after install"
    log "compose: installed $(docker compose version --short)"
fi

# ------------------------------------------------------------------ Python venv
# Prefer Debian's interpreter: pyenv shims etc. may point elsewhere.
PY=/usr/bin/python3
[ -x "$PY" ] || PY="$(command -v python3)"
VENV="$REPO_ROOT/.venv"
REQ="$REPO_ROOT/requirements.txt"
want="$( { sha256sum "$REQ" | cut -d' ' -f1; "$PY" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
if [ -f "$VENV/.requirements.sha256" ] && [ "$(cat "$VENV/.requirements.sha256")" = "$want" ] \
    && [ -x "$VENV/bin/python" ]; then
    log "venv: up to date ($VENV)"
else
    log "venv: (re)installing from requirements.txt"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ"
    echo "$want" >"$VENV/.requirements.sha256"
    log "venv: ready"
fi

# ------------------------------------------------------------------ collections
# The pip bundle carries community.docker and community.postgresql: check their versions
# against requirements.yml (what a Galaxy user would install).
"$VENV/bin/python" "$REPO_ROOT/scripts/check-collections.py"

log "bootstrap done in $(since "$T0")s"
