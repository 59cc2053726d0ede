"""The PostgreSQL versions this tool is proven on, and the refusal of any other before a change.

The matrix the tests prove (tests/e2e: the reverse stream's and online copy's core for each
pair, a migration and its rollback over SSH for 13 -> 17): a monolith on 13, 15 or 17 into new
databases on 15 or 17, never older than the monolith. Features are chosen by the servers'
versions (module_utils/reverse.subscription_options). A version outside the matrix fails in
ways nobody has seen, so the preflight refuses it before anything stops.
"""

import re

SOURCE_MAJORS = (13, 15, 17)
TARGET_MAJORS = (15, 17)


def major(version):
    """The major version of what a server or a binary reports: ``server_version_num`` (150018),
    ``server_version`` ("15.18 (Debian 15.18-0+deb12u1)") or ``postgres --version`` ("postgres
    (PostgreSQL) 15.18 (Debian ...)"); None when it says no version."""
    if isinstance(version, int):
        return version // 10000 or None
    match = re.search(r"\d+", str(version or "").split("(PostgreSQL)")[-1])
    return int(match.group(0)) if match else None


def _listed(majors):
    return ", ".join(str(number) for number in majors[:-1]) + f" or {majors[-1]}"


def problems(source, targets):
    """One problem, with its fix, per server outside the matrix: the source not on a proven
    version, a new database not on one, or older than the source (a backup cannot be
    restored into an older server).

    ``source``, each of ``targets``: {"what": "the source yemma_db", "version": as ``major``
    reads it, "where": what runs it (an image, a container)}. A server whose version is
    unknown is not judged here (whatever kept it from being read is a problem of its own)."""
    found = []
    source_major = major(source["version"])
    if source_major is not None and source_major not in SOURCE_MAJORS:
        found.append(f"{source['what']} runs PostgreSQL {source_major} ({source['where']}): this tool is proven on a "
                     f"source on PostgreSQL {_listed(SOURCE_MAJORS)}. Upgrade it to one of them first (pg_upgrade), "
                     "then run again")
    for target in targets:
        number = major(target["version"])
        if number is None:
            continue
        if number not in TARGET_MAJORS:
            found.append(f"{target['what']} runs PostgreSQL {number} ({target['where']}): this tool is proven on new "
                         f"databases on PostgreSQL {_listed(TARGET_MAJORS)}. Give its compose service such an image "
                         "(e.g. postgres:17), then run again")
        elif source_major is not None and number < source_major:
            found.append(f"{target['what']} runs PostgreSQL {number} ({target['where']}), older than the source's "
                         f"{source_major}: a backup is never restored into an older server. Give it PostgreSQL "
                         f"{source_major} or newer, then run again")
    return found
