#!/usr/bin/env bash
# A private sshd on 127.0.0.1:${SANDBOX_SSH_PORT:-2222} so Ansible reaches this machine
# over real SSH, as it would reach the production VPS.
#   scripts/ensure-sshd.sh         start it if not running, then check a login works
#   scripts/ensure-sshd.sh stop    stop only the sshd this script started (by pid file)
# Client side: .sandbox/ssh/id_ed25519, .sandbox/ssh/known_hosts, .sandbox/ssh/config
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

PORT="${SANDBOX_SSH_PORT:-2222}"
DIR="$REPO_ROOT/.sandbox/ssh"
PIDFILE="$DIR/sshd.pid"
SSHD=/usr/sbin/sshd   # sshd refuses to re-exec unless started by absolute path

running_pid() {
    local pid
    [ -f "$PIDFILE" ] || return 1
    pid="$(cat "$PIDFILE")"
    [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
    # A stale pid file may name a recycled pid: only trust it if it is an sshd.
    [ "$(cat "/proc/$pid/comm")" = "sshd" ] || return 1
    printf '%s\n' "$pid"
}

if [ "${1:-}" = "stop" ]; then
    if pid="$(running_pid)"; then
        kill "$pid"
        for _ in $(seq 1 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
        [ ! -d "/proc/$pid" ] || die "sshd $pid did not stop"
        log "sshd: stopped (pid $pid)"
    else
        log "sshd: not running"
    fi
    rm -f "$PIDFILE"
    exit 0
fi
[ $# -eq 0 ] || die "usage: $0 [stop]"
[ -x "$SSHD" ] || die "openssh-server not installed: run scripts/bootstrap.sh first"

mkdir -p "$DIR"
chmod 700 "$REPO_ROOT/.sandbox" "$DIR"
# Keys are generated once and kept, so known_hosts and Ansible inventories stay valid.
[ -f "$DIR/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C yemma-sandbox-client -f "$DIR/id_ed25519"
[ -f "$DIR/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C yemma-sandbox-host -f "$DIR/ssh_host_ed25519_key"
cp "$DIR/id_ed25519.pub" "$DIR/authorized_keys"
chmod 600 "$DIR/authorized_keys"
printf '[127.0.0.1]:%s %s\n' "$PORT" "$(cut -d' ' -f1,2 "$DIR/ssh_host_ed25519_key.pub")" >"$DIR/known_hosts"
cat >"$DIR/config" <<EOF
# ssh -F $DIR/config yemma-vps
Host yemma-vps
    HostName 127.0.0.1
    Port $PORT
    User root
    IdentityFile $DIR/id_ed25519
    IdentitiesOnly yes
    UserKnownHostsFile $DIR/known_hosts
    StrictHostKeyChecking yes
EOF

if pid="$(running_pid)"; then
    log "sshd: already running (pid $pid, port $PORT)"
else
    # An account whose password field starts with "!" is "locked" and sshd (UsePAM no)
    # then refuses even key logins.
    case "$(getent shadow root | cut -d: -f2)" in
        '!'*) die "root's password is locked ('!'); run: usermod -p '*' root" ;;
    esac
    mkdir -p /run/sshd
    # -f /dev/null: ignore the system sshd_config, everything we rely on is explicit.
    # StrictModes=no: the clone's parent directories (CI workspace) are not ours to fix.
    # UsePAM=no: PAM session modules (loginuid) fail in containers.
    "$SSHD" -f /dev/null \
        -o "ListenAddress=127.0.0.1" -o "Port=$PORT" \
        -o "HostKey=$DIR/ssh_host_ed25519_key" \
        -o "AuthorizedKeysFile=$DIR/authorized_keys" \
        -o "PidFile=$PIDFILE" \
        -o "PermitRootLogin=prohibit-password" \
        -o "PasswordAuthentication=no" -o "KbdInteractiveAuthentication=no" \
        -o "UsePAM=no" -o "StrictModes=no" \
        -o "Subsystem=sftp internal-sftp" \
        -o "AcceptEnv=LANG LC_*"
    for _ in $(seq 1 50); do running_pid >/dev/null && break; sleep 0.1; done
    pid="$(running_pid)" || die "sshd did not start (port $PORT busy?)"
    log "sshd: started (pid $pid, 127.0.0.1:$PORT)"
fi

ssh -F /dev/null -i "$DIR/id_ed25519" -o IdentitiesOnly=yes -o BatchMode=yes \
    -o UserKnownHostsFile="$DIR/known_hosts" -o StrictHostKeyChecking=yes \
    -p "$PORT" root@127.0.0.1 true \
    || die "ssh login to root@127.0.0.1:$PORT failed"
log "sshd: login ok (ssh -F $DIR/config yemma-vps)"
