# Shared helpers for the bootstrap / sandbox scripts. Source it; do not run it.
# shellcheck shell=bash

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export REPO_ROOT

log()  { printf '==> %s\n' "$*"; }
die()  { printf 'ERROR: %s\n' "$*" >&2; exit 1; }
now()  { date +%s.%N; }
# Seconds elapsed since a `now` timestamp, one decimal.
since() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1f", e - s }'; }

# The Debian mirror this machine already uses for bookworm (CI and dev machines point at
# different mirrors/proxies, so never hard-code deb.debian.org).
# Prints "URI<TAB>SIGNED_BY" (SIGNED_BY may be empty).
debian_mirror() {
    local f out=""
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        out="$(awk '
            function flush() {
                if (uri != "" && suites ~ /(^| )bookworm( |$)/ && types ~ /(^| )deb( |$)/ && enabled != "no") {
                    print uri "\t" signed; found = 1; exit
                }
                uri = ""; suites = ""; types = ""; signed = ""; enabled = ""
            }
            /^[[:space:]]*#/ { next }
            /^[[:space:]]*$/ { flush(); next }
            tolower($1) == "uris:"      { uri = $2 }
            tolower($1) == "suites:"    { $1 = ""; suites = $0 " " }
            tolower($1) == "types:"     { $1 = ""; types = $0 " " }
            tolower($1) == "signed-by:" { signed = $2 }
            tolower($1) == "enabled:"   { enabled = tolower($2) }
            END { if (!found) flush() }
        ' "$f")"
        [ -n "$out" ] && { printf '%s\n' "$out"; return 0; }
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        out="$(awk '
            $1 != "deb" { next }
            {
                i = 2; signed = ""
                if ($2 ~ /^\[/) {   # [signed-by=... arch=...] options
                    while (i <= NF) {
                        if ($i ~ /signed-by=/) { s = $i; sub(/.*signed-by=/, "", s); sub(/\]$/, "", s); signed = s }
                        if ($i ~ /\]$/) { i++; break }
                        i++
                    }
                }
                if ($(i + 1) == "bookworm") { print $i "\t" signed; exit }
            }
        ' "$f")"
        [ -n "$out" ] && { printf '%s\n' "$out"; return 0; }
    done
    # Fresh machines without any bookworm entry: fall back to the official redirector.
    printf 'http://deb.debian.org/debian\t\n'
}
