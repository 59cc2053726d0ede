"""Split and upgrade in one move: a monolith on PostgreSQL 13 migrated into new databases on
PostgreSQL 17 over SSH, then rolled back with every write the new services made.

The core's other version pairs run on bare servers (test_reverse_stream.py, test_online_copy.py,
test_any_schema.py); this is the whole run on the sandbox (`sandbox.sh up --pg 13:17`), which it
takes down again so that the next module starts from the default 15:15 platform.
"""

import pytest

from sandbox import (MAP, SERVICES, ansible_playbook, container_ip, health, http_json, psql, sandbox,
                     table_digests)

TARGETS = {service: spec["endpoint"]["database"] for service, spec in SERVICES.items()}
CONTAINERS = {spec["endpoint"]["database"]: spec["endpoint"]["container"] for spec in SERVICES.values()}


@pytest.fixture(scope="module")
def platform():
    sandbox("down")
    sandbox("up", "--size-mb", "10", "--pg", "13:17")
    yield
    sandbox("down")


def server_major(container, database):
    (version,), = psql(container, database, "SHOW server_version_num")
    return int(version) // 10000


def test_a_monolith_on_13_splits_into_new_databases_on_17_and_rolls_back_with_every_write(platform):
    assert server_major("yemma-postgres", "yemma_db") == 13
    migrated = ansible_playbook("migrate.yml", "-l", "sandbox")
    said = " ".join(migrated.stdout.split())
    assert migrated.returncode == 0, migrated.stdout[-6000:] + migrated.stderr[-3000:]
    assert "equal the source" in said and "migrated and verified" in said
    for database, container in CONTAINERS.items():
        assert server_major(container, database) == 17, database

    # The new services write on 17; the reverse stream carries it to the monolith on 13 (no
    # disable_on_error nor subscription statistics there).
    auth = f"http://{container_ip('yemma-auth')}:8000"
    payment = f"http://{container_ip('yemma-payment')}:8000"
    new_user = http_json(auth + "/items", method="POST", body={}, status=201)["user_id"]
    new_payments = [http_json(payment + "/items", method="POST", body={}, status=201)["payment_id"] for _ in range(5)]
    http_json(payment + "/items/3", method="PATCH", body={"status": "refunded"})
    written = {table: table_digests(CONTAINERS[TARGETS[service]], TARGETS[service], [table])[table]
               for service in ("auth", "payment") for table in MAP[service]}

    rolled_back = ansible_playbook("rollback.yml", "-l", "sandbox", "-e", "rollback_confirm=true")
    said = " ".join(rolled_back.stdout.split())
    assert rolled_back.returncode == 0, rolled_back.stdout[-6000:] + rolled_back.stderr[-3000:]
    assert "yemma_db serves the platform again; every write made since the cutover came back" in said
    assert server_major("yemma-postgres", "yemma_db") == 13
    assert health("yemma-auth") == "healthy" and health("yemma-postgres-auth") == "stopped"
    for table, digest in written.items():
        assert table_digests("yemma-postgres", "yemma_db", [table])[table] == digest, table
    (found,), = psql("yemma-postgres", "yemma_db", f"SELECT count(*) FROM users WHERE id = {new_user}")
    assert found == "1"
    (payments,), = psql("yemma-postgres", "yemma_db",
                        f"SELECT count(*) FROM payments WHERE id IN ({', '.join(map(str, new_payments))})")
    assert payments == str(len(new_payments))
