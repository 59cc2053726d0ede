"""The PostgreSQL versions this tool is proven on, and the refusal of any other before a change.

Every test and benchmark runs a PostgreSQL 15 monolith into PostgreSQL 15 targets. Elsewhere
the tool is known to fail mid-run: the reverse stream asks PostgreSQL 15's
pg_stat_subscription_stats and disable_on_error, so on a 13 monolith the fail-safe's own return
dies. Until other versions are proven end to end (the issue "any PostgreSQL"), the preflight
refuses a source or a target that does not run a proven major version, before anything stops.
"""

import re

PROVEN_MAJORS = (15,)


def major(version):
    """The major version of what a server or a binary reports: ``server_version_num`` (150018),
    ``server_version`` ("15.18 (Debian 15.18-0+deb12u1)") or ``postgres --version`` ("postgres
    (PostgreSQL) 15.18 (Debian ...)"); None when it says no version."""
    if isinstance(version, int):
        return version // 10000 or None
    match = re.search(r"\d+", str(version or "").split("(PostgreSQL)")[-1])
    return int(match.group(0)) if match else None


def problems(servers):
    """One problem, with its fix, per server that does not run a proven major version.

    ``servers``: [{"what": "the source yemma_db", "version": as ``major`` reads it, "where":
    what runs it (an image, a container)}]. A server whose version is unknown is not judged
    here (whatever kept it from being read is a problem of its own)."""
    proven = ", ".join(str(number) for number in PROVEN_MAJORS)
    found = []
    for server in servers:
        number = major(server["version"])
        if number is None or number in PROVEN_MAJORS:
            continue
        found.append(f"{server['what']} runs PostgreSQL {number} ({server['where']}): this tool is proven on PostgreSQL "
                     f"{proven} only, and fails on other versions in the middle of a run (the reverse stream and the fail-safe's "
                     f"return use PostgreSQL 15's catalog). Run it on PostgreSQL {proven} (e.g. an upgrade with pg_upgrade "
                     "before the split, or a PostgreSQL 15 image for a new database), then run again")
    return found
