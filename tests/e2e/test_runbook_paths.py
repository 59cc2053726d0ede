"""install.yml and reset.yml on the real sandbox over real SSH: a first installation on a host
with no monolith (runbook "Cas B"), the runbook's wrong `stamp head` found and repaired, and a
service database broken after a migration ("Dépannage") emptied, restored from the migration
backup, proven, while every other database and container stays as it was."""

import json
import os
import time

import pytest

from sandbox import (BACKEND, MAP, SERVICES, WriteLoad, ansible_playbook, container_ip, health, http_json, psql, run, sandbox,
                     table_digests)

ENDPOINTS = {name: spec["endpoint"] for name, spec in SERVICES.items()}
HEADS = {"auth": "e84b2f6a9d13", "candidate": "7f2e8a4c6b31", "notification": "b2d6f8a0c461", "audit": "4e6a8c0b2d93"}


def said(result):
    return " ".join(result.stdout.split())  # YAML output is folded at its width


def containers():
    """{name: (id, state, started at)} of every container: what a run could have touched."""
    ids = run(["docker", "ps", "-aq"]).stdout.split()
    if not ids:
        return {}
    lines = run(["docker", "inspect", "--format", "{{.Name}} {{.Id}} {{.State.Status}} {{.State.StartedAt}}", *ids]).stdout
    return {line.split()[0].lstrip("/"): tuple(line.split()[1:]) for line in lines.splitlines()}


def service_digests(services):
    """{service: {table: (rows, digest)}} of the services' tables, read in their databases."""
    return {name: table_digests(ENDPOINTS[name]["container"], ENDPOINTS[name]["database"], MAP[name]) for name in services}


def version(service):
    table = SERVICES[service]["alembic"]["version_table"]
    endpoint = ENDPOINTS[service]
    return psql(endpoint["container"], endpoint["database"], f"SELECT version_num FROM {table}")


@pytest.fixture(scope="module")
def new_host():
    """A VPS with the release deployed (compose file, .env, images) and nothing started."""
    sandbox("down")
    sandbox("up", "--empty")
    yield
    sandbox("down")


def test_install_starts_the_platform_from_nothing_and_the_wrong_stamp_is_found_and_repaired(new_host):
    check = ansible_playbook("install.yml", "-l", "sandbox", "--check")
    assert check.returncode == 0, check.stdout[-6000:] + check.stderr[-3000:]
    assert "would run alembic -c /app/alembic.ini upgrade head in a one-off candidate container" in said(check)
    assert containers() == {} or not any(name.startswith("yemma-") for name in containers())

    installed = ansible_playbook("install.yml", "-l", "sandbox")
    assert installed.returncode == 0, installed.stdout[-8000:] + installed.stderr[-3000:]
    assert "7 services installed on 6 databases: 22 tables proven, 4 Alembic services at head, the stack healthy" in said(installed)
    for service in BACKEND:
        assert health(f"yemma-{service}") == "healthy", service
    for service, head in HEADS.items():
        assert version(service) == [[head]], service
    for service in MAP:
        for table in MAP[service]:
            (exists,), = psql(ENDPOINTS[service]["container"], ENDPOINTS[service]["database"], f"SELECT to_regclass('{table}') IS NOT NULL")
            assert exists == "t", (service, table)
        # Every service answers its endpoints: a write and a read through each.
        url = f"http://{container_ip(f'yemma-{service}')}:8000/items"
        http_json(url, "POST", {}, status=201)
        listing = http_json(url)
        assert listing["counts"][listing["main_table"]] == 1, (service, listing)
    report = json.load(open(os.path.join(newest_report(), "install.json")))
    assert set(report["seconds"]) == {"databases", "schema", "services", "total"}

    # Installing again over the services' rows is refused, naming them, before any change.
    before = containers()
    again = ansible_playbook("install.yml", "-l", "sandbox")
    assert again.returncode != 0 and "auth_db already holds data" in said(again) and "install_keep_data=true" in said(again)
    assert "nothing was changed" in said(again) and containers() == before

    # The runbook's trap: candidate's schema dropped, then `stamp head` on the empty database.
    psql("yemma-postgres-candidate", "candidate_db", "DROP SCHEMA public CASCADE; CREATE SCHEMA public; GRANT ALL ON SCHEMA public TO public")
    run(["docker", "compose", "-p", "yemma", "-f", "/srv/yemma/docker-compose.yml", "run", "--rm", "--no-deps", "-e", "PYTHONPATH=",
         "candidate", "alembic", "-c", "/app/alembic.ini", "stamp", "head"], timeout=120)
    others = service_digests([s for s in MAP if s != "candidate"])
    before = containers()
    found = ansible_playbook("install.yml", "-l", "sandbox", "--check", "-e", "install_keep_data=yes")
    assert found.returncode != 0, found.stdout[-4000:]
    assert ("candidate_db: Alembic of candidate records revision 7f2e8a4c6b31 in alembic_version, but its tables profiles, "
            "experiences, educations, certifications, skills, job_preferences do not exist") in said(found)
    assert "repair it with ansible-playbook reset.yml -l sandbox -e service=candidate" in said(found)

    unconfirmed = ansible_playbook("reset.yml", "-l", "sandbox", "-e", "service=candidate")
    assert unconfirmed.returncode != 0 and "reset not confirmed" in said(unconfirmed) and containers() == before
    repaired = ansible_playbook("reset.yml", "-l", "sandbox", "-e", "service=candidate", "-e", "reset_confirm=yes")
    assert repaired.returncode == 0, repaired.stdout[-8000:] + repaired.stderr[-3000:]
    assert "candidate_db was emptied" in said(repaired) and "filled again as an installation: 6 tables created, Alembic at head" in said(repaired)
    assert version("candidate") == [[HEADS["candidate"]]] and health("yemma-candidate") == "healthy"
    assert http_json(f"http://{container_ip('yemma-candidate')}:8000/items", "POST", {}, status=201)
    # Nothing else was touched: the other databases' rows and every other container.
    assert service_digests([s for s in MAP if s != "candidate"]) == others
    after = containers()
    assert {k: v for k, v in after.items() if k != "yemma-candidate"} == {k: v for k, v in before.items() if k != "yemma-candidate"}


def newest_report():
    reports = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "reports")
    return max((os.path.join(reports, d) for d in os.listdir(reports)), key=os.path.getmtime)


@pytest.fixture(scope="module")
def migrated_without_stream():
    """The platform migrated with no reverse stream: the services run on the new databases and
    yemma_db stays frozen as the backup holds it."""
    sandbox("down")
    sandbox("up", "--size-mb", "10")
    result = ansible_playbook("migrate.yml", "-l", "sandbox", "-e", '{"dbsplit_reverse_stream": false}')
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    yield
    sandbox("down")


def test_verify_names_the_rows_a_new_database_changed_that_no_stream_carried_back(migrated_without_stream):
    check = ansible_playbook("verify.yml", "-l", "sandbox", "--check")
    assert check.returncode == 0, check.stdout[-6000:] + check.stderr[-3000:]
    assert "verify: would compare 6 new databases (24 tables" in said(check)
    assert "with yemma_db at one instant (a snapshot of each side)" in said(check)

    equal = ansible_playbook("verify.yml", "-l", "sandbox")
    assert equal.returncode == 0, equal.stdout[-6000:] + equal.stderr[-3000:]
    assert "verify: 6 new databases, 24 tables" in said(equal) and "every row, checksum, schema object and enum equal" in said(equal)

    # Written on payment_db alone: with dbsplit_reverse_stream false, nothing carries it to yemma_db.
    (changed,), = psql("yemma-postgres-payment", "payment_db",
                       "WITH changed AS (UPDATE payments SET provider_ref = 'card-4111-secret' "
                       "WHERE id = (SELECT min(id) + 4 FROM payments) RETURNING id) SELECT id FROM changed")
    (deleted,), = psql("yemma-postgres-payment", "payment_db",
                       "WITH deleted AS (DELETE FROM invoices WHERE id = (SELECT max(id) FROM invoices) RETURNING number) "
                       "SELECT number FROM deleted")
    found = ansible_playbook("verify.yml", "-l", "sandbox")
    assert found.returncode != 0, found.stdout[-6000:]
    assert (f"payment_db: public.payments: same row count ({psql('yemma-postgres', 'yemma_db', 'SELECT count(*) FROM payments')[0][0]}) "
            f"but different content; rows by key (id): 1 different; different: (id)=({changed})") in said(found)
    assert f"public.invoices: " in said(found) and f"missing: (id)=(" in said(found)
    assert "1 difference(s)" not in said(found) and "2 difference(s) (public.invoices in payment_db: 1 missing; public.payments in payment_db: 1 different)" in said(found)
    report = json.load(open(os.path.join(newest_report(), "verify.json")))
    assert report["consistent_point"] == "snapshots" and report["note"].startswith("no reverse stream")
    assert [(item["table"], item["counts"], item["keys"]["different"]) for item in report["rows_differing"]
            if item["table"] == "public.payments"] == [("public.payments", {"missing": 0, "extra": 0, "different": 1},
                                                        [f"(id)=({changed})"])]
    # Keys only: neither the changed value nor the lost invoice's other columns are shown.
    text = found.stdout + open(os.path.join(newest_report(), "verify.md")).read() + json.dumps(report)
    assert "card-4111-secret" not in text and deleted not in text


def test_reset_refills_a_broken_database_from_the_backup_and_touches_nothing_else(migrated_without_stream):
    unknown = ansible_playbook("reset.yml", "-l", "sandbox", "-e", "service=auht")
    assert unknown.returncode != 0 and "service auht is not in the map" in said(unknown) and "one of audit, auth, candidate" in said(unknown)

    # auth_db broken as the runbook describes: users gone (`relation "users" does not exist`), its
    # enum type gone (`type "userstatus" does not exist`), and roles duplicated.
    psql("yemma-postgres-auth", "auth_db", "DROP TABLE users CASCADE; DROP TYPE userstatus; "
         "ALTER TABLE roles DROP CONSTRAINT roles_pkey CASCADE; ALTER TABLE roles DROP CONSTRAINT roles_name_key; "
         "INSERT INTO roles SELECT * FROM roles")
    (roles,), = psql("yemma-postgres", "yemma_db", "SELECT count(*) FROM roles")
    (users,), = psql("yemma-postgres", "yemma_db", "SELECT count(*) FROM users")
    others = service_digests([s for s in MAP if s != "auth"])
    broken = table_digests("yemma-postgres-auth", "auth_db", [t for t in MAP["auth"] if t != "users"])
    before = containers()

    check = ansible_playbook("reset.yml", "-l", "sandbox", "-e", "service=auth", "--check")
    assert check.returncode != 0, check.stdout[-4000:]
    assert f"public.users: missing ({users} rows once reset)" in said(check)
    assert f"public.roles: {2 * int(roles)} rows now, {roles} once reset" in said(check) and "-e reset_force=true" in said(check)
    refused = ansible_playbook("reset.yml", "-l", "sandbox", "-e", "service=auth", "-e", "reset_confirm=yes")
    assert refused.returncode != 0 and "auth_db holds rows the reset would replace" in said(refused)
    assert "Nothing was changed" in said(refused) and containers() == before
    assert table_digests("yemma-postgres-auth", "auth_db", [t for t in MAP["auth"] if t != "users"]) == broken

    reset = ansible_playbook("reset.yml", "-l", "sandbox", "-e", "service=auth", "-e", "reset_confirm=yes", "-e", "reset_force=yes")
    assert reset.returncode == 0, reset.stdout[-8000:] + reset.stderr[-3000:]
    assert "rows proven equal to yemma_db" in said(reset)
    # auth_db holds the monolith's rows again (compared independently), stamped, and auth serves.
    assert table_digests("yemma-postgres-auth", "auth_db", MAP["auth"]) == table_digests("yemma-postgres", "yemma_db", MAP["auth"])
    assert version("auth") == [[HEADS["auth"]]]
    (enum,), = psql("yemma-postgres-auth", "auth_db", "SELECT count(*) FROM pg_type WHERE typname = 'userstatus'")
    assert enum == "1" and health("yemma-auth") == "healthy"
    assert http_json(f"http://{container_ip('yemma-auth')}:8000/items", "POST", {}, status=201)
    # Nothing else was touched: the other databases' rows and every other container.
    assert service_digests([s for s in MAP if s != "auth"]) == others
    after = containers()
    assert {k: v for k, v in after.items() if k != "yemma-auth"} == {k: v for k, v in before.items() if k != "yemma-auth"}
    report = json.load(open(os.path.join(newest_report(), "reset.json")))
    assert report["database"] == "auth_db" and report["forced"] and report["stopped"] == ["auth"]


def test_rollback_without_a_reverse_stream_rebuilds_a_lost_monolith_whole_from_the_backup(migrated_without_stream):
    # What the backup holds: yemma_db as frozen at the migration (it has not changed since).
    frozen = {service: table_digests("yemma-postgres", "yemma_db", tables) for service, tables in MAP.items()}
    run(["docker", "rm", "--force", "--volumes", "yemma-postgres"])
    run(["docker", "volume", "rm", "yemma_postgres_data"])
    rolled_back = ansible_playbook("rollback.yml", "-l", "sandbox", "-e", "rollback_confirm=yes")
    assert rolled_back.returncode == 0, rolled_back.stdout[-8000:] + rolled_back.stderr[-3000:]
    assert "the monolith's volume yemma_postgres_data is gone" in said(rolled_back) and "yemma_db restored from backup" in said(rolled_back)
    assert "are NOT in yemma_db (no reverse stream)" in said(rolled_back)
    assert {service: table_digests("yemma-postgres", "yemma_db", tables) for service, tables in MAP.items()} == frozen
    (read_only,), = psql("yemma-postgres", "yemma_db", "SHOW default_transaction_read_only")
    assert read_only == "off" and psql("yemma-postgres", "yemma_db", "SELECT count(*) FROM pg_subscription") == [["0"]]
    for service in BACKEND:
        assert health(f"yemma-{service}") == "healthy", service
    assert http_json(f"http://{container_ip('yemma-auth')}:8000/items", "POST", {}, status=201)


@pytest.fixture(scope="module")
def migrated():
    """The platform migrated (reverse stream in place): the services run on the new databases."""
    sandbox("down")
    sandbox("up", "--size-mb", "10")
    result = ansible_playbook("migrate.yml", "-l", "sandbox")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    yield
    sandbox("down")


def test_verify_under_the_services_writes_reads_both_sides_at_one_instant_through_the_reverse_stream(migrated):
    load = WriteLoad().start()
    try:
        time.sleep(2)
        verified = ansible_playbook("verify.yml", "-l", "sandbox")
    finally:
        counts = load.stop()
    assert counts["requests"] > 100 and counts["failed"] == 0, counts
    # Each new database read at one instant, yemma_db once its reverse stream had applied up to
    # it; the rows written in between differ at that instant and agree when read again.
    assert verified.returncode == 0, verified.stdout[-6000:]
    assert "then yemma_db's once every reverse stream had applied up to it" in said(verified)
    assert "every row, checksum, schema object and enum equal" in said(verified)
    report = json.load(open(os.path.join(newest_report(), "verify.json")))
    assert report["consistent_point"] == "reverse_stream" and report["differences"] == []


def test_rollback_rebuilds_a_lost_monolith_volume_from_the_backup_with_every_write_since_the_cutover(migrated):
    written = {}
    for service in ("auth", "payment", "document"):
        written[service] = http_json(f"http://{container_ip(f'yemma-{service}')}:8000/items", "POST", {}, status=201)
    # The monolith's container and its volume are gone.
    run(["docker", "rm", "--force", "--volumes", "yemma-postgres"])
    run(["docker", "volume", "rm", "yemma_postgres_data"])

    before = containers()
    check = ansible_playbook("rollback.yml", "-l", "sandbox", "--check")
    assert check.returncode == 0, check.stdout[-6000:] + check.stderr[-3000:]
    assert "the monolith's volume yemma_postgres_data is gone: yemma_db would be rebuilt from the migration backup" in said(check)
    assert containers() == before and "yemma_postgres_data" not in run(["docker", "volume", "ls", "-q"]).stdout.split()

    rolled_back = ansible_playbook("rollback.yml", "-l", "sandbox", "-e", "rollback_confirm=yes")
    assert rolled_back.returncode == 0, rolled_back.stdout[-8000:] + rolled_back.stderr[-3000:]
    assert "yemma_db restored from backup" in said(rolled_back)
    assert "yemma_postgres_data" in run(["docker", "volume", "ls", "-q"]).stdout.split()
    for service in BACKEND:
        assert health(f"yemma-{service}") == "healthy", service
    assert psql("yemma-postgres", "yemma_db", "SELECT count(*) FROM pg_subscription") == [["0"]]
    # The writes made on the new databases since the cutover are in the rebuilt yemma_db.
    assert psql("yemma-postgres", "yemma_db", f"SELECT count(*) FROM users WHERE id = {written['auth']['user_id']}") == [["1"]]
    assert psql("yemma-postgres", "yemma_db", f"SELECT count(*) FROM payments WHERE id = {written['payment']['payment_id']}") == [["1"]]
    assert psql("yemma-postgres", "yemma_db",
                f"SELECT count(*) FROM documents WHERE id = '{written['document']['document_id']}'") == [["1"]]
    # Every mapped table of yemma_db equals its new database (started again to compare).
    for container in sorted({e["container"] for e in ENDPOINTS.values()}):
        run(["docker", "start", container])
    for service in MAP:
        for _ in range(30):
            if health(ENDPOINTS[service]["container"]) == "healthy":
                break
            time.sleep(1)
    for service, tables in MAP.items():
        endpoint = ENDPOINTS[service]
        assert table_digests("yemma-postgres", "yemma_db", tables) == table_digests(endpoint["container"], endpoint["database"], tables), service

