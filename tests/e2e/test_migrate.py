"""migrate.yml and rollback.yml on the real sandbox, over real SSH.

One sandbox, in order (each test starts from the state the previous one left, as an
operator's session would): a check run changes nothing; a run killed during the
transfer is run again to a verified end with no duplicate (its cutover made to fail);
the next run finishes that cutover without redoing the phases before it, keeping what
the services wrote meanwhile; writes through the new services (some while the monolith is
down, one leaving an orphan) come back to yemma_db through the reverse stream, and the
rollback, refused while the orphan stands, proves them there; migrating again after that refuses, before any change, to
touch databases services have written to. The full migration, its idempotence and the independent
proof of it are the molecule scenario (molecule/default).
"""

import json
import os
import signal
import subprocess
import threading
import time

import pytest
from ansible_collections.yemma.dbsplit.plugins.lookup.controller import process_start

from sandbox import (MAP, PROJECT_DIR, ROOT, SERVICES, ansible_playbook, container_ip, descendants, health, http_json,
                     platform_snapshot, psql, run, sandbox, table_digests)

STATE_DIR = os.environ.get("SANDBOX_STATE_DIR", "/var/backups/yemma-dbsplit")
# The kill lands inside the transfer because the first restore is frozen (docker pause) as it
# starts; big enough that the restore is still running when the pause lands.
SIZE_MB = os.environ.get("E2E_SIZE_MB", "60")
TARGETS = {name: spec["endpoint"]["database"] for name, spec in SERVICES.items()}
CONTAINERS = {spec["endpoint"]["database"]: spec["endpoint"]["container"] for spec in SERVICES.values()}


def target_container(database):
    return CONTAINERS[database]


def marker(database):
    (comment,), = psql(target_container(database), database,
                       "SELECT 'comment: ' || coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database "
                       "WHERE datname = current_database()")
    return comment


@pytest.fixture(scope="module")
def platform():
    sandbox("down")
    sandbox("up", "--size-mb", SIZE_MB)
    yield
    sandbox("down")


def test_check_run_prints_the_plan_and_changes_nothing(platform):
    before = platform_snapshot(STATE_DIR)
    result = ansible_playbook("migrate.yml", "-l", "sandbox", "--check")
    after = platform_snapshot(STATE_DIR)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    out = result.stdout
    for database in set(TARGETS.values()):
        assert f"{database} <- " in out, database
    assert "needs enum types: public.userstatus" in out
    assert "a backup of" in out and "would be taken" in out
    assert "would run alembic -c /app/alembic.ini stamp head for candidate" in out
    assert "would start auth, candidate, company" in out
    assert "checked, nothing changed" in out
    # Containers (ids, state, start time), volumes, networks, files, database settings
    # and every table's rows are exactly as before.
    for key in before:
        assert after[key] == before[key], key
    assert not os.path.exists(STATE_DIR)


def lock_holder():
    path = STATE_DIR + ".lock"
    if not os.path.exists(path):
        return None
    with open(path) as stream:
        return json.load(stream)


def test_two_runs_at_once_exactly_one_takes_the_lock_and_a_failed_run_releases_it(platform):
    """Two operators start at once: one runs, the other is refused, naming the live run. A run
    that fails (here: preflight, on a .env key that does not exist) releases the lock."""
    env = dict(os.environ, PATH=f"{ROOT}/.venv/bin:{os.environ['PATH']}", ANSIBLE_CONFIG=f"{ROOT}/ansible.cfg")
    argv = [f"{ROOT}/.venv/bin/ansible-playbook", "migrate.yml", "-l", "sandbox", "--tags", "preflight"]
    runs = [subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
            for _ in range(2)]
    outputs = [r.communicate(timeout=600)[0] for r in runs]
    codes = sorted(r.returncode for r in runs)
    assert codes[0] == 0 and codes[1] != 0, outputs
    # The output is YAML, folded at its width: compare with whitespace collapsed.
    refused = " ".join(outputs[[r.returncode for r in runs].index(codes[1])].split())
    assert "another run holds the lock" in refused and "is still running" in refused and "Wait for it" in refused
    assert lock_holder() is None

    failed = ansible_playbook("migrate.yml", "-l", "sandbox", "--tags", "preflight", "-e", "dbsplit_env_user_key=NO_SUCH_KEY")
    said = " ".join(failed.stdout.split())
    assert failed.returncode != 0 and "has no NO_SUCH_KEY" in said and "The run lock is released" in said
    assert lock_holder() is None


def started_at(container):
    return run(["docker", "inspect", "--format", "{{.State.StartedAt}}", container]).stdout.strip()


def restore_containers():
    return run(["docker", "ps", "--filter", "label=yemma-dbsplit", "--filter", "name=yemma-dbsplit-restore-",
                "--format", "{{.Names}}"]).stdout.split()


def freeze_first_restore(events, run_):
    """Wait for a target's pg_restore to start (its marker then says restoring) and freeze it
    at once, so that it cannot end, and its marker cannot change, before the kill lands.
    ``events``: a `docker events` stream of the tool's container starts."""
    for name in events.stdout:
        name = name.strip()
        if not name.startswith("yemma-dbsplit-restore-"):
            continue
        # Each target's tool container runs twice: `pg_restore --list`, then the restore.
        if run(["docker", "pause", name], check=False).returncode != 0:
            continue  # it ended already: a --list step
        args = run(["docker", "inspect", "--format", "{{json .Args}}", name], check=False).stdout
        if "--use-list" in args:
            return name
        run(["docker", "unpause", name], check=False)
    raise AssertionError(f"the run (exit {run_.poll()}) ended before a restore started")


def test_run_killed_during_transfer_is_run_again_to_a_verified_end_without_duplicates(platform):
    log_path = os.path.join(ROOT, ".sandbox", "killed-run.log")
    env = dict(os.environ, PATH=f"{ROOT}/.venv/bin:{os.environ['PATH']}", ANSIBLE_CONFIG=f"{ROOT}/ansible.cfg")
    events = subprocess.Popen(["docker", "events", "--filter", "type=container", "--filter", "event=start",
                               "--filter", "label=yemma-dbsplit", "--format", "{{.Actor.Attributes.name}}"],
                              stdout=subprocess.PIPE, text=True)
    try:
        with open(log_path, "w") as log:
            run_ = subprocess.Popen([f"{ROOT}/.venv/bin/ansible-playbook", "migrate.yml", "-l", "sandbox"], cwd=ROOT,
                                    stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        # Ends the event stream if the run ends first, so the wait below cannot hang.
        watchdog = threading.Thread(target=lambda: (run_.wait(), events.terminate()), daemon=True)
        watchdog.start()
        frozen = freeze_first_restore(events, run_)
    finally:
        events.terminate()
    # The host loses the restore jobs (as a reboot would), then the operator's controller dies
    # with its workers (which Ansible detaches into their own sessions). The restore jobs are
    # this run's async modules on the host, daemonized (so no longer anyone's child): found by
    # pid as the dbsplit_restore modules started after this run.
    run_started = process_start(run_.pid)
    for pid in [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as stream:
                ours = b"AnsiballZ_dbsplit_restore" in stream.read()
            if ours and (process_start(pid) or 0) >= run_started:
                os.kill(pid, signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass
    for pid in [run_.pid, *descendants(run_.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    run_.wait()
    deadline = time.monotonic() + 60
    while names := restore_containers():
        assert time.monotonic() < deadline, f"restore containers still running: {names}"
        run(["docker", "kill", *names], check=False)
        time.sleep(0.5)
    frozen_database = frozen.removeprefix("yemma-dbsplit-restore-")
    assert "state=restoring" in marker(frozen_database), open(log_path).read()[-4000:]
    half_done = [db for db in sorted(set(TARGETS.values())) if "state=restoring" in marker(db)]

    # Without breaking the lock, a second run refuses, with the evidence that the run holding
    # it is gone, and says how to go on.
    holder = lock_holder()
    assert holder and holder["owner"]["pid"] == run_.pid
    refused = ansible_playbook("migrate.yml", "-l", "sandbox")
    said = " ".join(refused.stdout.split())
    assert refused.returncode != 0 and "dbsplit_break_lock=true" in said, refused.stdout[-3000:]
    assert f"its ansible-playbook process (pid {run_.pid} on" in said and "no longer exists" in said
    assert lock_holder() == holder

    # Run again. Its transfer rebuilds what was half restored and it verifies, but its cutover
    # fails once the services run on the targets (an error pattern that every log line
    # matches); the operator asked to leave it as it stops (else it would go back through the
    # reverse stream): the next test finishes it.
    rerun = ansible_playbook("migrate.yml", "-l", "sandbox", "-e", "dbsplit_break_lock=true",
                             "-e", '{"dbsplit_log_errors": ["."]}', "-e", "dbsplit_on_failure=stay")
    assert rerun.returncode != 0 and "the services logged errors" in rerun.stdout, rerun.stdout[-8000:]
    assert "left as it stopped, as asked" in " ".join(rerun.stdout.split())
    for database in half_done:
        assert f"{database}: rebuild" in rerun.stdout, database
    # Independent of the tool's verify phase: every table's rows, source against target.
    source = table_digests("yemma-postgres", "yemma_db", [t for ts in MAP.values() for t in ts])
    for service, tables in MAP.items():
        target = table_digests(target_container(TARGETS[service]), TARGETS[service], tables)
        for table in tables:
            assert target[table] == source[table], table
    for database in set(TARGETS.values()):
        assert "state=live" in marker(database)


def test_run_failed_in_cutover_is_finished_keeping_what_services_wrote(platform):
    # The services run on their new databases and take writes before the cutover is finished.
    base = f"http://{container_ip('yemma-auth')}:8000"
    user_id = http_json(base + "/items", method="POST", body={}, status=201)["user_id"]
    started = started_at("yemma-auth")

    result = ansible_playbook("migrate.yml", "-l", "sandbox", "-e", "dbsplit_break_lock=true")
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-3000:]
    assert "migrated and verified" in result.stdout
    # Phases 3 to 8 did not run again: the services were not stopped, and no re-verify
    # tripped over the new row, which is still there.
    assert started_at("yemma-auth") == started
    auth = TARGETS["auth"]
    assert psql(target_container(auth), auth, f"SELECT count(*) FROM users WHERE id = {int(user_id)}") == [["1"]]
    # The report still shows the proof of the run that verified.
    assert "| public.users |" in result.stdout
    assert health("yemma-auth") == "healthy"


def service_url(service):
    return f"http://{container_ip('yemma-' + service)}:8000"


def slot_wal(database):
    """(connected, bytes of WAL kept) of the reverse stream's slot on a new database."""
    (active, held), = psql(target_container(database), database,
                           "SELECT active, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) FROM pg_replication_slots")
    return active == "t", int(held)


def wait_caught_up(timeout=120):
    """Until yemma_db confirms every change each new database had written when called."""
    goals = {d: psql(target_container(d), d, "SELECT pg_current_wal_lsn()")[0][0] for d in set(TARGETS.values())}
    deadline = time.monotonic() + timeout
    for database, goal in goals.items():
        while psql(target_container(database), database,
                   f"SELECT confirmed_flush_lsn >= '{goal}' FROM pg_replication_slots") != [["t"]]:
            assert time.monotonic() < deadline, f"yemma_db did not catch up with {database}"
            time.sleep(0.5)


def test_rollback_after_the_cutover_brings_back_every_write_the_new_services_made(platform):
    """Writes through the new services' own endpoints in four services (inserts taking sequence
    values, updates, deletes), some while the monolith's container is stopped, and a parent
    deleted in auth_db whose child lives in candidate_db. The rollback refuses that orphan
    before any change, goes through once it is resolved where it lives, and leaves every table
    of yemma_db equal to its new database as the new services left it (compared here, not by
    the tool's verify)."""
    auth, candidate, payment, document = (service_url(s) for s in ("auth", "candidate", "payment", "document"))
    new_user = http_json(auth + "/items", method="POST", body={}, status=201)["user_id"]
    http_json(auth + "/items/5", method="PATCH", body={"full_name": "Renamed after the cutover"})
    new_profile = http_json(candidate + "/items", method="POST", body={"user_id": new_user}, status=201)["profile_id"]
    new_payment = http_json(payment + "/items", method="POST", body={}, status=201)["payment_id"]
    http_json(payment + "/items/3", method="PATCH", body={"status": "refunded"})
    http_json(payment + "/items/2", method="DELETE")
    new_document = http_json(document + "/items", method="POST", body={}, status=201)["document_id"]

    # The monolith's container is stopped for a while: the new services go on writing, and
    # each slot keeps the WAL until the monolith is back.
    run(["docker", "stop", "yemma-postgres"])
    away_payments = [http_json(payment + "/items", method="POST", body={}, status=201)["payment_id"] for _ in range(20)]
    http_json(auth + "/items/6", method="PATCH", body={"full_name": "Renamed while the monolith was away"})
    connected, held = slot_wal("payment_db")
    assert not connected and held > 0
    run(["docker", "start", "yemma-postgres"])

    # A parent deleted in one database, its child kept in another: an orphan in yemma_db.
    orphan_user = http_json(auth + "/items", method="POST", body={}, status=201)["user_id"]
    orphan_profile = http_json(candidate + "/items", method="POST", body={"user_id": orphan_user}, status=201)["profile_id"]
    http_json(auth + f"/items/{orphan_user}", method="DELETE")

    # Its check run shows each stream's lag and the orphan, and changes nothing.
    wait_caught_up()
    before = platform_snapshot(STATE_DIR)
    check = ansible_playbook("rollback.yml", "-l", "sandbox", "--check")
    after = platform_snapshot(STATE_DIR)
    assert check.returncode == 0, check.stdout[-6000:] + check.stderr[-3000:]
    said = " ".join(check.stdout.split())
    for database in set(TARGETS.values()):
        assert f"{database} -> yemma_db: applying, lag " in said, database
    assert f"(id)=({orphan_profile}) -> public.users (id)=({orphan_user})" in said
    assert "would start every service of docker-compose.monolith.yml" in said and "check run: nothing changed" in said
    for key in before:
        assert after[key] == before[key], key

    # It refuses the orphan, naming its table and key, before anything stops.
    refused = ansible_playbook("rollback.yml", "-l", "sandbox", "-e", "rollback_confirm=yes")
    said = " ".join(refused.stdout.split())
    assert refused.returncode != 0, said[-3000:]
    assert (f"public.profiles: 1 row(s) break profiles_user_id_fkey (their parent in public.users is gone): "
            f"(id)=({orphan_profile}) -> public.users (id)=({orphan_user})") in said
    assert "-e rollback_accept_orphans=true" in said and "Nothing was changed" in said
    assert platform_snapshot(STATE_DIR) == after
    assert health("yemma-auth") == "healthy"

    # Resolved where it lives, through the new service: the delete flows back too.
    http_json(candidate + f"/items/{orphan_profile}", method="DELETE")
    wait_caught_up()
    # Without the operator's yes (no terminal to ask at), it refuses, saying what it would do.
    after = platform_snapshot(STATE_DIR)
    refused = ansible_playbook("rollback.yml", "-l", "sandbox")
    said = " ".join(refused.stdout.split())
    assert refused.returncode != 0 and "rollback not confirmed" in said and "-e rollback_confirm=true" in said, said[-3000:]
    assert "the reverse stream has carried those writes back to yemma_db" in said and "Nothing was changed" in said
    assert platform_snapshot(STATE_DIR) == after

    result = ansible_playbook("rollback.yml", "-l", "sandbox", "-e", "rollback_confirm=yes")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    said = " ".join(result.stdout.split())
    assert "every write made since the cutover came back" in said and "tables proven equal" in said
    assert "Proof at the moment the new services stopped" in said
    assert health("yemma-postgres") == "healthy"
    for database in set(TARGETS.values()):
        assert health(target_container(database)) == "stopped", database
    (frozen,), = psql("yemma-postgres", "yemma_db", "SHOW default_transaction_read_only")
    assert frozen == "off"
    assert psql("yemma-postgres", "yemma_db", "SELECT count(*) FROM pg_subscription") == [["0"]]

    # Every table of yemma_db equals its new database as the new services left it: the new
    # databases are started again (alone) to compare, then stopped as the rollback left them.
    databases = sorted(set(TARGETS.values()))
    run(["docker", "start", *[target_container(d) for d in databases]])
    try:
        deadline = time.monotonic() + 120
        while any(health(target_container(d)) != "healthy" for d in databases):
            assert time.monotonic() < deadline, "the new databases did not start again"
            time.sleep(1)
        source = table_digests("yemma-postgres", "yemma_db", [t for ts in MAP.values() for t in ts])
        for service, tables in MAP.items():
            target = table_digests(target_container(TARGETS[service]), TARGETS[service], tables)
            for table in tables:
                assert target[table] == source[table], (service, table)
        assert all(psql(target_container(d), d, "SELECT count(*) FROM pg_replication_slots") == [["0"]] for d in databases)
    finally:
        run(["docker", "stop", *[target_container(d) for d in databases]])
    rows = {
        "new user": f"SELECT count(*) FROM users WHERE id = {int(new_user)}",
        "renamed": "SELECT count(*) FROM users WHERE id = 5 AND full_name = 'Renamed after the cutover'",
        "renamed while away": "SELECT count(*) FROM users WHERE id = 6 AND full_name = 'Renamed while the monolith was away'",
        "new profile": f"SELECT count(*) FROM profiles WHERE id = {int(new_profile)}",
        "payments": f"SELECT count(*) FROM payments WHERE id IN ({', '.join(str(int(i)) for i in [new_payment, *away_payments])})",
        "refunded": "SELECT count(*) FROM payments WHERE id = 3 AND status = 'refunded'",
        "deleted": "SELECT count(*) FROM payments WHERE id = 2",
        "new document": f"SELECT count(*) FROM documents WHERE id = '{new_document}'",
        "orphan gone": f"SELECT count(*) FROM profiles WHERE id = {int(orphan_profile)}",
    }
    found = {what: int(psql("yemma-postgres", "yemma_db", sql)[0][0]) for what, sql in rows.items()}
    assert found == {"new user": 1, "renamed": 1, "renamed while away": 1, "new profile": 1, "payments": 21,
                     "refunded": 1, "deleted": 0, "new document": 1, "orphan gone": 0}

    # The old services serve those rows, and their next ids follow the new services' (sequences carried back).
    for service in MAP:
        info = http_json(service_url(service) + "/info")
        assert (info["db_host"], info["db_name"]) == ("postgres", "yemma_db"), service
    assert http_json(service_url("payment") + "/items")["latest_id"] == max(away_payments)
    next_user = http_json(service_url("auth") + "/items", method="POST", body={}, status=201)["user_id"]
    assert next_user > orphan_user
    assert http_json(service_url("payment") + "/items", method="POST", body={}, status=201)["payment_id"] > max(away_payments)
    for service in MAP:
        # yemma_db checks the profile's user again: give it one that exists.
        body = {"user_id": next_user} if service == "candidate" else {}
        assert http_json(service_url(service) + "/items", method="POST", body=body, status=201), service
    # The migration's state is set aside; a new one records the new databases as returned.
    with open(os.path.join(STATE_DIR, "state.json")) as stream:
        fresh = json.load(stream)
    assert fresh["steps"] == {} and len(fresh["returned"]) == len(set(TARGETS.values()))
    assert any(name.startswith(os.path.basename(STATE_DIR) + ".rolled-back-")
               for name in os.listdir(os.path.dirname(STATE_DIR)))


def test_migrating_again_after_a_proven_rollback_rebuilds_the_new_databases(platform):
    # Their content is in yemma_db (the rollback proved every write back and marked them
    # returned): the next migration starts them and rebuilds them, with no hand cleanup.
    for database in set(TARGETS.values()):
        assert health(target_container(database)) == "stopped", database
    result = ansible_playbook("migrate.yml", "-l", "sandbox")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    said = " ".join(result.stdout.split())
    assert "migrated and verified" in said and "rebuild, rebuild, rebuild, rebuild, rebuild, rebuild" in said, said[-4000:]
    # Every table equals yemma_db, the new services' writes from the first cutover included.
    source = table_digests("yemma-postgres", "yemma_db", [t for ts in MAP.values() for t in ts])
    for service, tables in MAP.items():
        target = table_digests(target_container(TARGETS[service]), TARGETS[service], tables)
        for table in tables:
            assert target[table] == source[table], (service, table)
        assert "state=live" in marker(TARGETS[service])
