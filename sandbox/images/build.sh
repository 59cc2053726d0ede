#!/usr/bin/env bash
# Build every sandbox image from Debian packages (no registry is reachable here), with a
# content-hash cache: an image is rebuilt only when its inputs change.
#   local/yemma-base:latest      debootstrap rootfs (packages in base/packages.txt)
#   local/yemma-postgres:15      official-image-compatible PostgreSQL 15 (on local/yemma-base)
#   local/yemma-postgres:13, :17 the same entrypoint on Debian 11's PostgreSQL 13 and Debian 13's
#                                17 (local/yemma-pgbase:<major>, a minimal rootfs of that suite)
#   local/yemma-redis:latest     real redis-server
#   local/yemma-standin:latest   HTTP stand-in (minio, elasticsearch, kibana, nginx, frontend)
#   local/yemma-python:latest    parent of the Python services
#   local/yemma-<dir>:latest     each sandbox/services/<dir>/Dockerfile (context sandbox/services)
# Usage: sandbox/images/build.sh [--force]
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/common.sh"

IMAGES_DIR="$REPO_ROOT/sandbox/images"
SERVICES_DIR="$REPO_ROOT/sandbox/services"
SUITE=bookworm
DEBOOTSTRAP_CACHE=/var/cache/yemma-debootstrap   # keeps .debs: base rebuilds skip downloads
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1
# The classic builder resolves FROM local/... from the engine's image store and needs no
# buildx plugin (which Debian's docker.io lacks).
export DOCKER_BUILDKIT=0

[ "$(id -u)" -eq 0 ] || die "build.sh must run as root (debootstrap)"
docker info >/dev/null 2>&1 || die "Docker engine not answering: run scripts/ensure-dockerd.sh"

# ------------------------------------------------------------------ base (debootstrap)
base_packages() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$IMAGES_DIR/base/packages.txt" | tr -d ' \t' | paste -sd, -; }

# Everything that shapes a rootfs is in this function; its text is part of each rootfs's hash.
debootstrap_rootfs() {
    local rootfs="$1" mirror="$2" suite="$3" packages="$4" major="$5"
    mkdir -p "$DEBOOTSTRAP_CACHE"
    debootstrap --variant=minbase --include="$packages" \
        --cache-dir="$DEBOOTSTRAP_CACHE" "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
        || { tail -n 30 "$rootfs.log" >&2; die "debootstrap of $suite failed (log: $rootfs.log)"; }
    # Our postgres entrypoint runs initdb itself into a volume: drop the packaged cluster.
    rm -rf "$rootfs/var/lib/postgresql/$major/main" "$rootfs/etc/postgresql/$major/main"
    # Smaller image: no apt caches, indexes, docs, man pages or message translations
    # (everything runs in the C.UTF-8 locale; locale.alias is kept for glibc).
    rm -rf "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
        "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
        "$rootfs"/usr/share/info/* "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/*
    find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
}

# build_rootfs_image TAG SUITE PACKAGES MAJOR: a minimal rootfs of Debian SUITE with PACKAGES
# (PostgreSQL MAJOR among them), imported as TAG; rebuilt only when what shapes it changed (the
# yemma.hash label).
build_rootfs_image() {
    local tag="$1" suite="$2" packages="$3" major="$4" t0 hash mirror rootfs
    t0=$(now)
    hash="$( { echo "$suite $packages $major"; declare -f debootstrap_rootfs; } | sha256sum | cut -c1-16)"
    if [ "$FORCE" = 0 ] && [ "$(docker image inspect -f '{{index .Config.Labels "yemma.hash"}}' "$tag" 2>/dev/null)" = "$hash" ]; then
        printf '  %-32s cached  %5ss\n' "$tag" "$(since "$t0")"
        return
    fi
    command -v debootstrap >/dev/null || die "debootstrap missing: run scripts/bootstrap.sh"
    IFS=$'\t' read -r mirror _ < <(debian_mirror)
    rootfs="$(mktemp -d /var/tmp/yemma-rootfs.XXXXXX)"
    # Cleanup on any exit: a half-built rootfs is ~400 MB.
    trap 'rm -rf "$rootfs" "$rootfs.log"' EXIT
    log "$tag: debootstrap $suite from $mirror (about a minute)"
    debootstrap_rootfs "$rootfs" "$mirror" "$suite" "$packages" "$major"
    # --numeric-owner: uids/gids must match the rootfs's own /etc/passwd, not the host's.
    tar -C "$rootfs" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -c . \
        | docker import \
            --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
            --change "ENV LANG=C.UTF-8" \
            --change "LABEL yemma.managed=true yemma.hash=$hash" \
            --change 'CMD ["/bin/bash"]' \
            - "$tag" >/dev/null
    rm -rf "$rootfs" "$rootfs.log"
    trap - EXIT
    printf '  %-32s built   %5ss  (%s)\n' "$tag" "$(since "$t0")" \
        "$(docker image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%d MB", $1 / 1e6 }')"
}

# Each PostgreSQL major version besides the base's 15, and its Debian suite (the version matrix
# of docs/benchmarks.md): a minimal rootfs of that suite, local/yemma-pgbase:<major>.
PG_SUITES="13:bullseye 17:trixie"
PG_PACKAGES="ca-certificates,netbase,procps,tzdata"

# ------------------------------------------------------------------ Dockerfile images
# Hash of: every file of the context (path + content), the Dockerfile, and the ids of the
# FROM images, so a rebuilt parent rebuilds its children.
context_hash() {
    local ctx="$1" dockerfile="$2" from id
    {
        (cd "$ctx" && find . -type f ! -path '*/__pycache__/*' ! -name '*.pyc' ! -path '*/.pytest_cache/*' -print0 \
            | LC_ALL=C sort -z | xargs -0 -r sha256sum)
        sha256sum <"$dockerfile"
        # shellcheck disable=SC2013  # image refs never contain spaces
        for from in $(awk 'toupper($1) == "FROM" { print $2 }' "$dockerfile"); do
            # A FROM naming an earlier build stage is not an image: hash the name itself.
            if id="$(docker image inspect -f '{{.Id}}' "$from" 2>/dev/null)"; then
                echo "$from $id"
            else
                echo "$from"
            fi
        done
    } | sha256sum | cut -c1-16
}

# build_image NAME:TAG CONTEXT DOCKERFILE [BASE_IMAGE PG_MAJOR]: the postgres Dockerfile takes
# its base and version as build args (their ids are part of the hash).
build_image() {
    local ref="$1" ctx="$2" dockerfile="$3" base="${4:-}" major="${5:-}" t0 hash current logf args=()
    t0=$(now)
    hash="$( { context_hash "$ctx" "$dockerfile"; [ -z "$base" ] || docker image inspect -f '{{.Id}}' "$base"; echo "$major"; } \
        | sha256sum | cut -c1-16)"
    [ -z "$base" ] || args=(--build-arg "BASE=$base" --build-arg "PG_MAJOR=$major")
    current="$(docker image inspect -f '{{index .Config.Labels "yemma.hash"}}' "$ref" 2>/dev/null)" || current=""
    if [ "$FORCE" = 0 ] && [ "$current" = "$hash" ]; then
        printf '  %-32s cached  %5ss\n' "$ref" "$(since "$t0")"
        return
    fi
    logf="$(mktemp /tmp/yemma-build.XXXXXX.log)"
    if ! docker build --label yemma.managed=true --label "yemma.hash=$hash" "${args[@]}" \
        -t "$ref" -f "$dockerfile" "$ctx" >"$logf" 2>&1; then
        tail -n 40 "$logf" >&2
        die "docker build of $ref failed (log: $logf)"
    fi
    rm -f "$logf"
    printf '  %-32s built   %5ss\n' "$ref" "$(since "$t0")"
}

T0=$(now)
log "images:"
build_rootfs_image local/yemma-base:latest "$SUITE" "$(base_packages)" 15
build_image local/yemma-postgres:15      "$IMAGES_DIR/postgres" "$IMAGES_DIR/postgres/Dockerfile" local/yemma-base:latest 15
for pair in $PG_SUITES; do
    build_rootfs_image "local/yemma-pgbase:${pair%%:*}" "${pair#*:}" "$PG_PACKAGES,postgresql-${pair%%:*}" "${pair%%:*}"
    build_image "local/yemma-postgres:${pair%%:*}" "$IMAGES_DIR/postgres" "$IMAGES_DIR/postgres/Dockerfile" \
        "local/yemma-pgbase:${pair%%:*}" "${pair%%:*}"
done
build_image local/yemma-redis:latest     "$IMAGES_DIR/redis"    "$IMAGES_DIR/redis/Dockerfile"
build_image local/yemma-standin:latest   "$IMAGES_DIR/standin"  "$IMAGES_DIR/standin/Dockerfile"
build_image local/yemma-python:latest    "$IMAGES_DIR/python"   "$IMAGES_DIR/python/Dockerfile"
for df in "$SERVICES_DIR"/*/Dockerfile; do
    [ -f "$df" ] || continue   # no services yet, or dirs such as common/ without one
    svc="$(basename "$(dirname "$df")")"
    build_image "local/yemma-$svc:latest" "$SERVICES_DIR" "$df"
done
# Rebuilt images leave their previous version untagged: drop those we made (only ours,
# and never one a container still uses).
docker image prune -f --filter label=yemma.managed=true >/dev/null
# Bases of older package lists (tagged by hash) go too, unless a container still uses one.
for t in $(docker images local/yemma-base --format '{{.Tag}}'); do
    case "$t" in latest|"$(docker image inspect -f '{{index .Config.Labels "yemma.hash"}}' local/yemma-base:latest)") continue ;; esac
    if ! docker rmi "local/yemma-base:$t" >/dev/null 2>&1; then
        log "kept local/yemma-base:$t (still used by a container)"
    fi
done
log "images done in $(since "$T0")s"
