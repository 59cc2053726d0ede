#!/usr/bin/env bash
# The yemma sandbox: a replica of the production platform on this machine's Docker.
#   sandbox/sandbox.sh up [--size-mb N] [--pg M:N] [--owner NAME]
#                                         build images, start the OLD (monolith) platform
#                                         and seed yemma_db with ~N MB (default 10); --pg:
#                                         the monolith on PostgreSQL M, the new databases
#                                         on N (13, 15 or 17; default 15:15); --owner: the
#                                         services (and the migration tool) log in as NAME,
#                                         which owns each database and is no superuser
#                                         (a managed server's replica)
#   sandbox/sandbox.sh up --empty         build images and deploy the release's compose file
#                                         and .env only: a new VPS for install.yml (nothing
#                                         started, no network)
#   sandbox/sandbox.sh down               remove every container, volume and the network
#                                         of project "yemma", the project dir and the
#                                         migration tool's state dir
#   sandbox/sandbox.sh status             containers and their health
# The project dir (${SANDBOX_PROJECT_DIR:-/srv/yemma}) plays the VPS's deployment dir:
# both compose files and the .env, as the migration tool finds them in production.
# SANDBOX_INFRA_ONLY=1: start only postgres + infra (debugging without service images).
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../scripts/lib/common.sh"

PROJECT_DIR="${SANDBOX_PROJECT_DIR:-/srv/yemma}"
# The migration tool's state on the "VPS" (backup, plan, lock): part of what down resets.
STATE_DIR="${SANDBOX_STATE_DIR:-/var/backups/yemma-dbsplit}"
PROJECT=yemma
NETWORK=yemma-network
MONO=docker-compose.monolith.yml
NEW=docker-compose.yml
COMPOSE_SRC="$REPO_ROOT/sandbox/compose"
INFRA=(postgres redis minio elasticsearch kibana frontend nginx)
# PostgreSQL major versions of the monolith and of the new databases (up --pg).
PG_VERSIONS="${SANDBOX_PG:-15:15}"
# The services' login when it is no superuser (up --owner); empty: the servers' superuser.
OWNER="${SANDBOX_OWNER:-}"

# The header comment above is the help text.
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 2; }

# timed LABEL CMD...: run a step and print how long it took.
timed() {
    local label="$1" t0
    shift
    t0=$(now)
    "$@"
    printf '    %-40s %6ss\n' "$label" "$(since "$t0")"
}

safe_project_dir() {
    case "$PROJECT_DIR" in
        /|/srv|/home|/root|/tmp|/var|/usr|/etc|"") die "refusing SANDBOX_PROJECT_DIR=$PROJECT_DIR" ;;
    esac
}

# DB_USER from the project's .env, without exporting the password to every child.
db_user() { sed -n 's/^DB_USER=//p' "$PROJECT_DIR/.env" | tail -n1; }

compose() {
    local file="$1"
    shift
    # --progress quiet: per-container progress lines drown the step timings; errors
    # (unhealthy container, missing image) are still printed.
    docker compose --progress quiet -p "$PROJECT" -f "$PROJECT_DIR/$file" "$@"
}

ensure_network() {
    if ! docker network inspect "$NETWORK" >/dev/null 2>&1; then
        docker network create "$NETWORK" >/dev/null
    fi
}

# ensure_project_dir FILE...: the deployment dir with these compose files and the .env, each
# file's postgres image on the version PG_VERSIONS (monolith:new) asks for.
ensure_project_dir() {
    if [ -d "$PROJECT_DIR" ]; then
        return
    fi
    mkdir -p "$PROJECT_DIR"
    for f in "$@"; do
        local major="${PG_VERSIONS#*:}"
        [ "$f" = "$MONO" ] && major="${PG_VERSIONS%%:*}"
        sed "s|local/yemma-postgres:15|local/yemma-postgres:$major|" "$COMPOSE_SRC/$f" >"$PROJECT_DIR/$f"
    done
    install -m 600 "$COMPOSE_SRC/env.example" "$PROJECT_DIR/.env"   # holds the password
    if [ -n "$OWNER" ]; then
        # The compose files make PG_SUPERUSER each server's superuser and DB_USER its database's owner.
        sed -i "s/^DB_USER=.*/DB_USER=$OWNER/" "$PROJECT_DIR/.env"
        printf 'PG_SUPERUSER=postgres\nPG_SUPERUSER_PASSWORD=yemma-sandbox-Superuser-Pg\n' >>"$PROJECT_DIR/.env"
    fi
}

# The compose file(s) the newest container of the project was started from, as
# "-f a -f b" arguments; empty when the project has no container at all.
last_stack_files() {
    local files
    files="$(docker ps -a --filter "label=com.docker.compose.project=$PROJECT" \
        --filter "label=com.docker.compose.oneoff=False" \
        --format '{{.CreatedAt}}|{{.Label "com.docker.compose.project.config_files"}}' \
        | sort -r | head -n1 | cut -d'|' -f2)"
    [ -n "$files" ] || return 0
    tr ',' '\n' <<<"$files" | while read -r f; do printf -- '-f\n%s\n' "$f"; done
}

require_images() {
    local file="$1" missing=() img
    for img in $(compose "$file" config --images | sort -u); do
        docker image inspect "$img" >/dev/null 2>&1 || missing+=("$img")
    done
    [ "${#missing[@]}" -eq 0 ] || die "images missing: ${missing[*]} (no sandbox/services/<svc>/Dockerfile for them?)"
}

psql_yemma() {
    docker exec -i yemma-postgres psql -v ON_ERROR_STOP=1 --no-psqlrc -q -U "$(db_user)" -d yemma_db "$@"
}

seed_monolith() {
    local size_mb="$1" py tables users
    tables="$(psql_yemma -Atc "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")"
    if [ "$tables" = "0" ]; then
        timed "schema.sql loaded" psql_yemma <"$REPO_ROOT/sandbox/monolith/schema.sql"
    else
        log "yemma_db already has $tables tables: schema not reloaded"
    fi
    # generate.py loads its data in one transaction: "users is empty" = never seeded.
    users="$(psql_yemma -Atc "SELECT EXISTS (SELECT 1 FROM users)")"
    if [ "$users" = "f" ]; then
        [ -f "$REPO_ROOT/sandbox/monolith/generate.py" ] || die "sandbox/monolith/generate.py missing"
        py="$REPO_ROOT/.venv/bin/python"
        [ -x "$py" ] || py=/usr/bin/python3
        timed "data generated + loaded (${size_mb} MB)" load_data "$py" "$size_mb"
    else
        log "yemma_db already holds data: not re-seeded"
    fi
}

load_data() {
    "$1" "$REPO_ROOT/sandbox/monolith/generate.py" --size-mb "$2" | psql_yemma
}

cmd_up() {
    local size_mb=10 empty=0 stack
    while [ $# -gt 0 ]; do
        case "$1" in
            --empty) empty=1; shift ;;
            --size-mb) size_mb="${2:?--size-mb needs a number}"; shift 2 ;;
            --size-mb=*) size_mb="${1#*=}"; shift ;;
            --pg) PG_VERSIONS="${2:?--pg needs MONOLITH:NEW}"; shift 2 ;;
            --pg=*) PG_VERSIONS="${1#*=}"; shift ;;
            --owner) OWNER="${2:?--owner needs a role name}"; shift 2 ;;
            --owner=*) OWNER="${1#*=}"; shift ;;
            *) usage ;;
        esac
    done
    [[ "$size_mb" =~ ^[0-9]+$ ]] || die "--size-mb must be an integer"
    [[ "$PG_VERSIONS" =~ ^(13|15|17):(13|15|17)$ ]] || die "--pg must be MONOLITH:NEW, each 13, 15 or 17 (got $PG_VERSIONS)"
    [[ -z "$OWNER" || "$OWNER" =~ ^[a-z_][a-z0-9_]*$ ]] || die "--owner must be a plain role name (got $OWNER)"
    [ "$OWNER" != postgres ] || die "--owner postgres is the servers' superuser: name another role"
    safe_project_dir
    local T0
    T0=$(now)
    log "sandbox up (project dir $PROJECT_DIR)"
    timed "dockerd" bash "$REPO_ROOT/scripts/ensure-dockerd.sh"
    docker compose version >/dev/null 2>&1 || die "docker compose v2 missing: run scripts/bootstrap.sh"
    timed "images" bash "$REPO_ROOT/sandbox/images/build.sh"
    if [ "$empty" = 1 ]; then
        [ ! -d "$PROJECT_DIR" ] || die "$PROJECT_DIR exists: sandbox.sh down first"
        timed "project dir (release only)" ensure_project_dir "$NEW"
        log "sandbox up --empty in $(since "$T0")s: nothing started"
        return
    fi
    timed "network $NETWORK" ensure_network
    timed "project dir" ensure_project_dir "$MONO" "$NEW"

    mapfile -t stack < <(last_stack_files)
    if [ "${#stack[@]}" -gt 0 ]; then
        # Already deployed: only make sure the stack last started is running (the
        # migration may have switched to the new platform; do not undo that).
        log "project already deployed from: ${stack[*]//-f/}"
        timed "stack running" docker compose --progress quiet -p "$PROJECT" "${stack[@]}" up -d --wait
    else
        # First start: the OLD platform. Old services expect the schema to exist
        # (create_all must be a no-op on it), so databases/infra first, seed, then them.
        timed "postgres + infra healthy" compose "$MONO" up -d --wait "${INFRA[@]}"
        seed_monolith "$size_mb"
        if [ "${SANDBOX_INFRA_ONLY:-0}" = 1 ]; then
            log "SANDBOX_INFRA_ONLY=1: backend services not started"
        else
            require_images "$MONO"
            timed "backend services healthy" compose "$MONO" up -d --wait
        fi
    fi
    log "sandbox up in $(since "$T0")s"
    cmd_status
}

cmd_down() {
    safe_project_dir
    local T0 f envfile dir ids
    T0=$(now)
    bash "$REPO_ROOT/scripts/ensure-dockerd.sh"
    if [ -d "$PROJECT_DIR" ]; then dir="$PROJECT_DIR"; else dir="$COMPOSE_SRC"; fi
    envfile="$dir/.env"
    [ -f "$envfile" ] || envfile="$COMPOSE_SRC/env.example"
    for f in "$MONO" "$NEW"; do
        [ -f "$dir/$f" ] || continue
        timed "down ($f)" docker compose --progress quiet -p "$PROJECT" --env-file "$envfile" -f "$dir/$f" \
            down -v --remove-orphans --timeout 10
    done
    # Anything else labelled with the project (one-off `compose run` containers, volumes
    # of a compose file that was edited since): only ours, selected by label.
    ids="$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT")"
    if [ -n "$ids" ]; then
        # shellcheck disable=SC2086
        docker rm -f -v $ids >/dev/null
    fi
    ids="$(docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT")"
    if [ -n "$ids" ]; then
        # shellcheck disable=SC2086
        docker volume rm $ids >/dev/null
    fi
    # The migration tool's one-off PostgreSQL tools containers, if a run was killed.
    ids="$(docker ps -aq --filter "label=yemma-dbsplit" --filter "name=^yemma-dbsplit-")"
    if [ -n "$ids" ]; then
        # shellcheck disable=SC2086
        docker rm -f $ids >/dev/null
    fi
    if docker network inspect "$NETWORK" >/dev/null 2>&1; then
        # Every container of ours is gone; detach whatever else is still attached, by force.
        for endpoint in $(docker network inspect --format '{{range .Containers}}{{.Name}} {{end}}' "$NETWORK"); do
            echo "sandbox: detaching $endpoint, still attached to $NETWORK" >&2
            docker network disconnect --force "$NETWORK" "$endpoint" >/dev/null
        done
        # The engine may still hold an endpoint of a removed container that it lists nowhere
        # ("has active endpoints", seen once in CI after a fail-safe test, until dockerd
        # restarts): keep the network then; `up` reuses it (ensure_network).
        if ! docker network rm "$NETWORK" >/dev/null 2>&1; then
            echo "sandbox: $NETWORK kept: the engine still counts an endpoint on it (restarting dockerd clears it)" >&2
        fi
    fi
    rm -rf "$PROJECT_DIR" "$STATE_DIR" "$STATE_DIR".rolled-back-* "$STATE_DIR".lock "$STATE_DIR".lock.broken-*
    log "sandbox down in $(since "$T0")s (images kept)"
}

cmd_status() {
    docker info >/dev/null 2>&1 || die "Docker engine not answering (scripts/ensure-dockerd.sh)"
    if [ -d "$PROJECT_DIR" ]; then
        log "project dir: $PROJECT_DIR"
    else
        log "project dir: $PROJECT_DIR (absent: sandbox not deployed)"
    fi
    docker ps -a --filter "label=com.docker.compose.project=$PROJECT" \
        --format 'table {{.Names}}\t{{.Status}}\t{{.Image}}\t{{.Label "com.docker.compose.project.config_files"}}' \
        | { IFS= read -r header; printf '%s\n' "$header"; sort; }
}

[ "$(id -u)" -eq 0 ] || die "sandbox.sh must run as root"
case "${1:-}" in
    up) shift; cmd_up "$@" ;;
    down) shift; [ $# -eq 0 ] || usage; cmd_down ;;
    status) shift; [ $# -eq 0 ] || usage; cmd_status ;;
    *) usage ;;
esac
