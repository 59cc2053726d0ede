"""Online mode (dbsplit_mode: online) on the real sandbox, over real SSH, under a write load.

One sandbox, in order, as an operator would go: the check run refuses what online mode needs
(wal_level on the monolith, a table without a primary key) before any change; with the table
accepted through the map and the monolith's restart scheduled, the run that starts the copy
is killed during it (held by its back-pressure), and the services never notice; the run again
copies again what was half copied; the
cutover refuses a schema change made on the monolith during the copy, stopping nothing; once
reverted, the cutover stops the services for seconds, and every table of every new database
equals yemma_db (compared here, independently of the tool's proof).
"""

import contextlib
import json
import os
import signal
import subprocess
import time

import pytest

from sandbox import (MAP, ROOT, SERVICES, WriteLoad, ansible_playbook, descendants, health, platform_snapshot, psql, run,
                     sandbox, table_digests)

STATE_DIR = os.environ.get("SANDBOX_STATE_DIR", "/var/backups/yemma-dbsplit")
SIZE_MB = os.environ.get("E2E_ONLINE_SIZE_MB", "20")
TARGETS = {name: spec["endpoint"]["database"] for name, spec in SERVICES.items()}
CONTAINERS = {spec["endpoint"]["database"]: spec["endpoint"]["container"] for spec in SERVICES.values()}
# A table without a primary key, mapped to auth by the test's own map.
KEYLESS = "login_events"
# Online mode, with bounds that make a stuck copy or proof fail the test in minutes, not hours.
ONLINE = ["-e", "dbsplit_mode=online", "-e", "dbsplit_online_copy_timeout=600", "-e", "dbsplit_online_proof_timeout=600"]


def migrate(*args):
    return ansible_playbook("migrate.yml", "-l", "sandbox", *args, timeout=900)


def with_keyless(identity_full):
    services = json.loads(json.dumps(SERVICES))
    services["auth"]["tables"].append(KEYLESS)
    return ["-e", json.dumps({"dbsplit_services": services,
                              "dbsplit_replica_identity_full": [f"public.{KEYLESS}"] if identity_full else []})]


def monolith(sql):
    return psql("yemma-postgres", "yemma_db", sql)


def frozen():
    return monolith("SELECT current_setting('default_transaction_read_only')") == [["on"]]


def subscriptions():
    """{new database: its subscriptions}, of the new databases that answer (while the run
    starts, restarts and restores them, a query may fail: that database counts none yet)."""
    found = {}
    for database, container in CONTAINERS.items():
        answer = run(["docker", "exec", container, "psql", "-X", "-U", "postgres", "-d", database, "-Atc",
                      "SELECT count(*) FROM pg_subscription"], check=False, timeout=30)
        if answer.returncode == 0:
            found[database] = int(answer.stdout.strip())
    return found


def read(path):
    with open(path) as text:
        return text.read()


def serving():
    return all(health(f"yemma-{service}") == "healthy" for service in WriteLoad.WRITERS)


@pytest.fixture(scope="module")
def platform():
    sandbox("down")
    sandbox("up", "--size-mb", SIZE_MB)
    monolith(f"CREATE TABLE public.{KEYLESS} (user_id bigint, kind text, at timestamptz DEFAULT now()); "
             f"INSERT INTO public.{KEYLESS} (user_id, kind) SELECT id, 'login' FROM public.users")
    yield
    sandbox("down")


def test_check_run_refuses_what_online_mode_needs_before_any_change(platform):
    before = platform_snapshot(STATE_DIR)
    result = migrate("--check", *ONLINE, *with_keyless(False))
    said = " ".join(result.stdout.split())
    assert result.returncode != 0, result.stdout[-4000:]
    assert "wal_level replica -> logical (restart)" in said and "-e dbsplit_monolith_restart=true" in said, said[-4000:]
    assert f"table public.{KEYLESS} has no primary key" in said and "dbsplit_replica_identity_full" in said
    assert platform_snapshot(STATE_DIR) == before

    # The table accepted through the map, the restart scheduled: nothing left to refuse.
    result = migrate("--check", *ONLINE, *with_keyless(True),
                              "-e", "dbsplit_monolith_restart=true")
    assert result.returncode == 0, result.stdout[-6000:]
    assert "would be restarted for the online copy" in " ".join(result.stdout.split())
    assert platform_snapshot(STATE_DIR) == before


def test_run_killed_during_the_copy_leaves_the_services_serving_and_the_run_again_resumes_it(platform):
    # The monolith's restart (wal_level) at a time the operator chose, before the load.
    prepared = migrate("--tags", "preflight,plan,stop", *ONLINE,
                                *with_keyless(True), "-e", "dbsplit_monolith_restart=true")
    assert prepared.returncode == 0, prepared.stdout[-6000:]
    assert monolith("SHOW wal_level") == [["logical"]]
    deadline = time.monotonic() + 120
    while not serving():
        assert time.monotonic() < deadline, "the old services did not come back after the monolith's restart"
        time.sleep(1)

    load = WriteLoad().start()
    try:
        env = dict(os.environ, PATH=f"{ROOT}/.venv/bin:{os.environ['PATH']}", ANSIBLE_CONFIG=f"{ROOT}/ansible.cfg")
        log_path = os.path.join(ROOT, ".sandbox", "online-killed.log")
        with open(log_path, "w") as log:
            # Back-pressure at a load no host is under: every part waits, the copy is held mid-way.
            run_ = subprocess.Popen([f"{ROOT}/.venv/bin/ansible-playbook", "migrate.yml", "-l", "sandbox", *ONLINE,
                                     *with_keyless(True), "-e", "dbsplit_online_max_load_per_core=0.001"],
                                    cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            deadline = time.monotonic() + 600
            while len(monolith("SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'dbsplit\\_online\\_%'")) \
                    < len(CONTAINERS) or "paused" not in read(log_path):
                assert run_.poll() is None, "the run ended before its copy began"
                assert time.monotonic() < deadline, "the copy never began"
                time.sleep(0.5)
        finally:
            # The controller and its workers (each in a session of its own), as a lost SSH session would.
            for pid in [run_.pid, *descendants(run_.pid)]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            run_.wait(timeout=60)
        # Killed during the copy: yemma_db serves, unfrozen, holding only the copy's publications
        # and slots; no target subscribed.
        assert "host load" in read(log_path)
        assert not frozen()
        assert len(monolith("SELECT pubname FROM pg_publication WHERE pubname LIKE 'dbsplit_online_%'")) == len(CONTAINERS)
        assert sum(subscriptions().values()) == 0
        assert serving()

        # Run again: each target left half copied is rebuilt and copied again from a new slot's
        # snapshot (the cutover is left for later, so the load runs on against the old services).
        rerun = migrate(*ONLINE, *with_keyless(True),
                                 "-e", "dbsplit_break_lock=true", "--skip-tags", "cutover")
        assert rerun.returncode == 0, rerun.stdout[-8000:]
        said = " ".join(rerun.stdout.split())
        assert "tables copied" in said and "copied while the services served" in said, said[-6000:]
        # The killed run's copy, a background job that outlived it, was ended before any restore.
        assert "Stop the online copy a killed run left running" in said, said[-6000:]
        assert subscriptions() == {database: 1 for database in CONTAINERS}
        # An UPDATE and a DELETE on the keyless table on the live monolith (REPLICA IDENTITY FULL).
        monolith(f"UPDATE public.{KEYLESS} SET kind = 'logout' WHERE user_id % 3 = 0; "
                 f"DELETE FROM public.{KEYLESS} WHERE user_id % 5 = 0")
        # verify.yml while the copy streams the services' writes: the monolith read at one instant,
        # each new database once its copy applied up to it; no row differs (rows in flight are
        # read again), under the load.
        verified = ansible_playbook("verify.yml", "-l", "sandbox")
        said = " ".join(verified.stdout.split())
        assert verified.returncode == 0, verified.stdout[-6000:]
        assert "once its copy had applied up to it" in said and "every row, checksum, schema object and enum equal" in said
    finally:
        counts = load.stop()
    assert counts["requests"] > 100 and counts["failed"] == 0, counts


def test_a_schema_change_on_the_monolith_during_the_copy_stops_the_cutover_before_it_stops_anything(platform):
    monolith("ALTER TABLE public.companies ADD COLUMN nickname text")
    try:
        refused = migrate(*ONLINE, *with_keyless(True))
        said = " ".join(refused.stdout.split())
        assert refused.returncode != 0, said[-6000:]
        assert "public.companies: column nickname added" in said and "nothing was stopped" in said, said[-6000:]
        assert serving() and not frozen()
    finally:
        monolith("ALTER TABLE public.companies DROP COLUMN nickname")


def test_the_cutover_takes_seconds_and_every_table_equals_yemma_db(platform):
    # The restart is a no-op after the kill test's; run alone, this test needs it made.
    result = migrate(*ONLINE, *with_keyless(True), "-e", "dbsplit_monolith_restart=true")
    assert result.returncode == 0, result.stdout[-8000:]
    said = " ".join(result.stdout.split())
    assert "tables proven equal to yemma_db at the freeze (snapshots)" in said, said[-6000:]
    reports = sorted(os.listdir(os.path.join(ROOT, "reports")))
    with open(os.path.join(ROOT, "reports", reports[-1], "report.json")) as stream:
        report = json.load(stream)
    # How short the downtime is, is measured by the benchmark (bench.sh --online), not asserted here.
    assert report["mode"] == "online" and report["verified"] and float(report["completed"]["downtime_seconds"]) > 0

    # Independently of the tool's proof: every mapped table, yemma_db (frozen) against its new database.
    tables = {service: tables + ([KEYLESS] if service == "auth" else []) for service, tables in MAP.items()}
    source = table_digests("yemma-postgres", "yemma_db", [t for ts in tables.values() for t in ts])
    for service, names in tables.items():
        database = TARGETS[service]
        target = table_digests(CONTAINERS[database], database, names)
        for table in names:
            assert target[table] == source[table], (database, table)
    # The materialized view, stale on the monolith (created before its rows), is refreshed on its
    # new database from the copied rows; the monolith's is left as the services left it.
    view = "SELECT company_id, members FROM company_team_sizes ORDER BY 1"
    query = "SELECT company_id, count(*) FROM team_members GROUP BY 1 ORDER BY 1"
    refreshed = psql(CONTAINERS["company_db"], "company_db", view)
    assert refreshed and refreshed == monolith(query) and monolith(view) == []
    # The online copy is gone from both ends; the reverse stream carries the new services' writes.
    assert monolith("SELECT count(*) FROM pg_publication WHERE pubname LIKE 'dbsplit_online_%'") == [["0"]]
    assert monolith("SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'dbsplit_online_%'") == [["0"]]
    assert monolith("SELECT count(*) FROM pg_subscription") == [[str(len(CONTAINERS))]]
    assert all(health(f"yemma-{service}") == "healthy" for service in SERVICES)
