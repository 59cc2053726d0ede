"""Split and upgrade in one move: a monolith on PostgreSQL 13 migrated into new databases on
PostgreSQL 17 over SSH, then rolled back with every write the new services made. The release
gives audit its own database, audit_db, on the logs server, whose compose service creates only
logs_db: the provision phase creates it.

The core's other version pairs run on bare servers (test_reverse_stream.py, test_online_copy.py,
test_any_schema.py); this is the whole run on the sandbox (`sandbox.sh up --pg 13:17`), which it
takes down again so that the next module starts from the default 15:15 platform.
"""

import copy
import json
import os

import pytest

from sandbox import (GROUP_VARS, PROJECT_DIR, SERVICES, ansible_playbook, psql, rolled_back_with, sandbox,
                     write_through_auth_and_payment)

AUDIT_SERVICES = copy.deepcopy(SERVICES)
AUDIT_SERVICES["audit"]["endpoint"]["database"] = "audit_db"
AUDIT_MAP = ["-e", json.dumps({"dbsplit_services": AUDIT_SERVICES})]
CONTAINERS = {spec["endpoint"]["database"]: spec["endpoint"]["container"] for spec in AUDIT_SERVICES.values()}


@pytest.fixture(scope="module")
def platform():
    sandbox("down")
    sandbox("up", "--size-mb", "10", "--pg", "13:17")
    release = os.path.join(PROJECT_DIR, GROUP_VARS["dbsplit_compose_file"])
    with open(release) as stream:
        text = stream.read()
    audit = "SERVICE_NAME: audit\n      DB_HOST: postgres-logs\n      DB_NAME: logs_db"
    assert audit in text
    with open(release, "w") as stream:
        stream.write(text.replace(audit, audit.replace("logs_db", "audit_db")))
    yield
    sandbox("down")


def server_major(container, database):
    (version,), = psql(container, database, "SHOW server_version_num")
    return int(version) // 10000


def test_a_monolith_on_13_splits_into_new_databases_on_17_and_rolls_back_with_every_write(platform):
    assert server_major("yemma-postgres", "yemma_db") == 13
    migrated = ansible_playbook("migrate.yml", "-l", "sandbox", *AUDIT_MAP)
    said = " ".join(migrated.stdout.split())
    assert migrated.returncode == 0, migrated.stdout[-6000:] + migrated.stderr[-3000:]
    assert "equal the source" in said and "migrated and verified" in said
    assert "(audit_db created)" in said
    assert psql("yemma-postgres-logs", "postgres", "SELECT datname FROM pg_database WHERE datname LIKE '%_db' ORDER BY 1") \
        == [["audit_db"], ["logs_db"]]
    assert psql("yemma-postgres-logs", "audit_db", "SELECT count(*) > 0 FROM access_logs") == [["t"]]
    for database, container in CONTAINERS.items():
        assert server_major(container, database) == 17, database

    # The new services write on 17; the reverse stream carries it to the monolith on 13 (no
    # disable_on_error nor subscription statistics there), and the rollback proves it whole.
    written = write_through_auth_and_payment(AUDIT_SERVICES)
    rolled_back_with(written, *AUDIT_MAP)
    assert server_major("yemma-postgres", "yemma_db") == 13
