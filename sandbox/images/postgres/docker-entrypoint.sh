#!/bin/bash
# Behaves like the official `postgres` image's entrypoint (the production platform uses
# postgres:15): POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB, initdb on first start
# only, /docker-entrypoint-initdb.d, `postgres -c ...` as the container command.
# One addition, for a managed server's replica: POSTGRES_OWNER / POSTGRES_OWNER_PASSWORD, a
# login that is no superuser and owns POSTGRES_DB (when it is not POSTGRES_USER).
set -euo pipefail

: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
export PGDATA

# gosu-like: drop to the postgres user when started as root (the default).
as_postgres() {
    if [ "$(id -u)" = "0" ]; then
        setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
    else
        "$@"
    fi
}

# `docker run image -c foo=bar` means `postgres -c foo=bar`, as upstream.
if [ "${1:0:1}" = "-" ]; then
    set -- postgres "$@"
fi

if [ "$1" != "postgres" ]; then
    exec "$@"
fi

if [ "$(id -u)" = "0" ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    # Fresh volumes are root-owned; initdb wants 0700 owned by postgres.
    chown postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 0700 "$PGDATA"
    chmod 2775 /var/run/postgresql
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "error: database is uninitialized and POSTGRES_PASSWORD is not set" >&2
        exit 1
    fi
    echo "entrypoint: initializing $PGDATA (superuser $POSTGRES_USER)"
    # The password goes through a private temp file, never a command line (ps, logs).
    pwfile="$(mktemp)"
    trap 'rm -f "$pwfile"' EXIT
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    chown postgres "$pwfile"
    chmod 600 "$pwfile"
    as_postgres initdb --username="$POSTGRES_USER" --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    trap - EXIT
    # Other containers reach the server over the bridge network, with a password.
    printf '\nhost all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"

    # Temporary server on the unix socket only, so nothing (healthchecks over TCP, the
    # services) sees the database before it is fully initialised.
    as_postgres pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start >/dev/null
    psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER")
    if [ "$POSTGRES_DB" != "postgres" ]; then
        # :"db" quotes the identifier (psql only interpolates on stdin, not with -c).
        echo 'CREATE DATABASE :"db";' \
            | as_postgres "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" -q
    fi
    if [ -n "${POSTGRES_OWNER:-}" ] && [ "$POSTGRES_OWNER" != "$POSTGRES_USER" ] && [ "$POSTGRES_DB" != "postgres" ]; then
        echo "entrypoint: $POSTGRES_DB owned by $POSTGRES_OWNER (not a superuser)"
        # On stdin, quoted here: the password is on no command line.
        owner="\"${POSTGRES_OWNER//\"/\"\"}\"" password="'${POSTGRES_OWNER_PASSWORD//\'/\'\'}'"
        printf 'CREATE ROLE %s LOGIN PASSWORD %s;\nALTER DATABASE :"db" OWNER TO %s;\n' "$owner" "$password" "$owner" \
            | as_postgres "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" -q
    fi
    shopt -s nullglob
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sh)  echo "entrypoint: running $f"
                   # shellcheck disable=SC1090  # user-provided, sourced like upstream does
                   . "$f" ;;
            *.sql) echo "entrypoint: running $f"; as_postgres "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
            *.sql.gz) echo "entrypoint: running $f"; gunzip -c "$f" | as_postgres "${psql[@]}" --dbname "$POSTGRES_DB" ;;
            *) echo "entrypoint: ignoring $f" ;;
        esac
    done
    as_postgres pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "entrypoint: init done"
fi

# exec: postgres becomes PID 1 and gets the stop signal (SIGINT = fast shutdown).
if [ "$(id -u)" = "0" ]; then
    exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
fi
exec "$@"
