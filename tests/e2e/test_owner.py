"""A platform whose services log in as a role that owns each database and is no superuser (a
managed server's replica: `sandbox.sh up --pg 17:17 --owner yemma_app`), migrated over SSH
with the privileges the tool asks for, and rolled back with every write.

The first run refuses before any change, naming each grant the monolith's server lacks; once
granted, the next refuses at provision (the new databases run, nothing was stopped), naming
theirs; once granted, the migration runs to the end, and the rollback too. The bare-server
view of the same facts, on 13, 15 and 17: test_roles.py. The module takes the sandbox down
again, so that the next starts from the default platform.
"""

import pytest

from sandbox import SERVICES, ansible_playbook, health, psql, rolled_back_with, sandbox, write_through_auth_and_payment

OWNER = "yemma_app"
ROLE = f'"{OWNER}"'
CONTAINERS = {spec["endpoint"]["database"]: spec["endpoint"]["container"] for spec in SERVICES.values()}

# What the monolith's server (PostgreSQL 17, defaults) lacks for the freeze and the reverse stream.
MONOLITH_GRANTS = [
    f"GRANT pg_signal_backend TO {ROLE};",
    f"GRANT pg_create_subscription TO {ROLE};",
    # A failing CREATE SUBSCRIPTION would print its text, password included, with its error.
    f"GRANT SET ON PARAMETER log_min_error_statement TO {ROLE};",
    # An apply worker per new database: more than the 4 a server starts with.
    f"GRANT ALTER SYSTEM ON PARAMETER max_logical_replication_workers, max_worker_processes TO {ROLE};",
]
# What each new database's server lacks: the replication login the reverse stream reads with,
# and wal_level = logical with the cap on a slot's WAL, which this tool then sets.
NEW_DATABASE_GRANTS = [
    f"ALTER ROLE {ROLE} REPLICATION;",
    f"GRANT ALTER SYSTEM ON PARAMETER wal_level, max_slot_wal_keep_size TO {ROLE};",
]


@pytest.fixture(scope="module")
def platform():
    sandbox("down")
    sandbox("up", "--size-mb", "10", "--pg", "17:17", "--owner", OWNER)
    yield
    sandbox("down")


def refused(expected_statements, where):
    run = ansible_playbook("migrate.yml", "-l", "sandbox")
    said = " ".join(run.stdout.split())
    assert run.returncode != 0, said[-3000:]
    assert where in said, said[-5000:]
    for statement in expected_statements:
        assert statement in said, (statement, said[-5000:])
    assert health("yemma-auth") == "healthy"  # the old services still serve
    return said


def grant(container, database, statements):
    for statement in statements:
        psql(container, database, statement)


def test_an_owner_that_is_no_superuser_is_told_each_grant_then_migrates_and_rolls_back(platform):
    (superuser,), = psql("yemma-postgres", "yemma_db", f"SELECT rolsuper FROM pg_roles WHERE rolname = '{OWNER}'")
    assert superuser == "f"
    refused(MONOLITH_GRANTS, "preflight found")
    grant("yemma-postgres", "yemma_db", MONOLITH_GRANTS)

    refused(NEW_DATABASE_GRANTS, "the login lacks what the migration needs on the new databases (nothing was stopped)")
    for database, container in CONTAINERS.items():
        grant(container, database, NEW_DATABASE_GRANTS)

    migrated = ansible_playbook("migrate.yml", "-l", "sandbox")
    said = " ".join(migrated.stdout.split())
    assert migrated.returncode == 0, migrated.stdout[-6000:] + migrated.stderr[-3000:]
    assert "equal the source" in said and "migrated and verified" in said

    # The new services write; the reverse stream carries it back, and the rollback proves it whole.
    written = write_through_auth_and_payment(SERVICES)
    rolled_back_with(written)
