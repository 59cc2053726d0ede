"""The fail-safe: a run that fails between the stop and the cutover puts the platform back
on the monolith (thawed, the old services started and healthy, every row as before, the new
databases left for inspection), reports what failed and the downtime, and releases the lock.

Each test starts from the seeded platform with no migration on it, makes one phase fail in a
way production can, and checks the platform from outside the tool. The downtime each return
cost is printed.
"""

import glob
import json
import os
import re
import subprocess
import threading
import time

import pytest

from sandbox import (BACKEND, GROUP_VARS, MAP, PROJECT_DIR, ROOT, ansible_playbook, assert_secret_kept, container_ip, health,
                     http_json, psql, remove_new_databases, run, sandbox, table_digests)

STATE_DIR = "/var/backups/yemma-dbsplit"
TABLES = [t for ts in MAP.values() for t in ts]
UP_TO_PROVISION = "preflight,plan,stop,backup,provision"


@pytest.fixture(scope="module")
def seeded():
    sandbox("down")
    sandbox("up", "--size-mb", "10")
    yield table_digests("yemma-postgres", "yemma_db", TABLES)
    sandbox("down")


def serving_as_seeded(seeded):
    """The old platform serves on the monolith, which holds the seeded rows, unfrozen."""
    try:
        (frozen,), = psql("yemma-postgres", "yemma_db", "SHOW default_transaction_read_only")
        return (frozen == "off" and all(health(f"yemma-{service}") == "healthy" for service in BACKEND)
                and table_digests("yemma-postgres", "yemma_db", TABLES) == seeded)
    except AssertionError:
        return False


@pytest.fixture
def platform(seeded):
    """The seeded platform with no migration on it. Each test ends back on the monolith, as
    seeded (that is what it proves): only the new databases and the tool's state are left,
    removed here (a fresh sandbox costs far more). After anything else (a test that failed half
    way), a fresh sandbox."""
    if not serving_as_seeded(seeded):
        sandbox("down")
        sandbox("up", "--size-mb", "10")
    remove_new_databases()
    for path in glob.glob(STATE_DIR + "*"):
        run(["rm", "-rf", path])
    yield table_digests("yemma-postgres", "yemma_db", TABLES)


def migrate(*args):
    return ansible_playbook("migrate.yml", "-l", "sandbox", *args)


def ok(result):
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]


def assert_back_on_the_monolith(result, rows_before, phase):
    said = " ".join(result.stdout.split())
    assert result.returncode != 0, said[-3000:]
    assert f"phase {phase} failed" in said and "The platform is back on the monolith" in said, said[-6000:]
    downtime = float(re.findall(r"after ([0-9.]+) s of write downtime", said)[-1])
    print(f"\nfail-safe in {phase}: write downtime {downtime} s")
    # Every row as before, the monolith writable, the old services healthy on it.
    assert table_digests("yemma-postgres", "yemma_db", TABLES) == rows_before
    (frozen,), = psql("yemma-postgres", "yemma_db", "SHOW default_transaction_read_only")
    assert frozen == "off"
    for service in BACKEND:
        assert health(f"yemma-{service}") == "healthy", service
    base = f"http://{container_ip('yemma-auth')}:8000"
    assert (http_json(base + "/info")["db_name"]) == "yemma_db"
    assert http_json(base + "/items", method="POST", body={}, status=201)
    assert not os.path.exists(STATE_DIR + ".lock")
    # The report says what failed and what was put back.
    report = max(glob.glob(os.path.join(ROOT, "reports", "*-yemma-sandbox-*", "report.md")), key=os.path.getmtime)
    with open(report) as stream:
        text = stream.read()
    assert f"FAILED in phase {phase}: the platform is back on the monolith" in text and "Put back:" in text
    return downtime


def test_a_full_disk_during_the_backup(platform):
    mount = "/mnt/dbsplit-full"
    state_dir = f"{mount}/yemma-dbsplit"
    os.makedirs(mount, exist_ok=True)
    run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", mount])
    try:
        ok(migrate("--tags", "preflight,plan,stop", "-e", f"dbsplit_state_dir={state_dir}"))
        # The disk fills up after the checks (another process, logs): 200 KB are left.
        free = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
        run(["fallocate", "-l", str(free - 200 * 1024), f"{mount}/filler"])
        failed = migrate("--tags", "backup", "-e", f"dbsplit_state_dir={state_dir}")
        assert "No space left on device" in failed.stdout, failed.stdout[-4000:]
        assert_back_on_the_monolith(failed, platform, "backup")
    finally:
        run(["umount", mount], check=False)


def test_a_target_killed_during_the_transfer(platform):
    ok(migrate("--tags", UP_TO_PROVISION))
    # One target dies as its restore begins (the creation of its first tool container, after
    # every target was judged): whatever the machine's speed, its restore cannot end first.
    service = next(iter(GROUP_VARS["dbsplit_services"].values()))
    container, database = service["endpoint"]["container"], service["endpoint"]["database"]
    events = subprocess.Popen(["docker", "events", "--filter", "type=container", "--filter", "event=create",
                               "--filter", "label=yemma-dbsplit", "--format", "{{.Actor.Attributes.name}}"],
                              stdout=subprocess.PIPE, text=True)
    killed = []

    def kill_the_target_as_its_restore_begins():
        for name in events.stdout:
            if name.strip() == f"yemma-dbsplit-restore-{database}":
                run(["docker", "kill", container])
                killed.append(container)
                return

    watcher = threading.Thread(target=kill_the_target_as_its_restore_begins, daemon=True)
    watcher.start()
    try:
        failed = migrate("--tags", "transfer")
    finally:
        events.terminate()
    assert killed, failed.stdout[-4000:]
    assert_back_on_the_monolith(failed, platform, "transfer")
    assert health(container) == "stopped"  # left as it is, for inspection


def test_a_corrupt_backup_stays_down_when_asked_then_returns(platform):
    ok(migrate("--tags", UP_TO_PROVISION))
    with open(os.path.join(STATE_DIR, "state.json")) as stream:
        archive = json.load(stream)["steps"]["backup"]["result"]["manifest"]["archive"]
    with open(archive, "r+b") as stream:
        stream.seek(4096)
        stream.write(b"corrupted")
    # The operator wants to investigate with the platform down.
    stayed = migrate("--tags", "transfer", "-e", "dbsplit_on_failure=stay")
    assert stayed.returncode != 0 and "does not match its recorded checksum" in stayed.stdout, stayed.stdout[-4000:]
    assert "back on the monolith" not in stayed.stdout
    assert health("yemma-auth") == "stopped"
    (frozen,), = psql("yemma-postgres", "yemma_db", "SHOW default_transaction_read_only")
    assert frozen == "on"
    assert_back_on_the_monolith(migrate("--tags", "transfer"), platform, "transfer")


def services_with(change):
    services = json.loads(json.dumps(GROUP_VARS["dbsplit_services"]))
    change(services)
    return json.dumps({"dbsplit_services": services})


def test_an_alembic_command_that_fails_is_caught_before_the_stop(platform):
    # Each service's head is asked at provision, while the old services still serve.
    failed = migrate("-e", services_with(lambda s: s["candidate"]["alembic"].update(args=["-c", "/app/no-such-alembic.ini"])))
    said = " ".join(failed.stdout.split())
    assert failed.returncode != 0 and "phase provision failed" in said, said[-4000:]
    assert "candidate: `alembic -c /app/no-such-alembic.ini heads` exited" in said and "back on the monolith" not in said
    assert "stop" not in progress()
    (frozen,), = psql("yemma-postgres", "yemma_db", "SHOW default_transaction_read_only")
    assert frozen == "off" and all(health(f"yemma-{service}") == "healthy" for service in BACKEND)
    assert table_digests("yemma-postgres", "yemma_db", TABLES) == platform


def test_a_stamp_that_does_not_hold_puts_the_platform_back(platform):
    # The map names a version table the service's Alembic does not write: found once stamped, in the downtime.
    failed = migrate("-e", services_with(lambda s: s["candidate"]["alembic"].update(version_table="alembic_version_typo")))
    assert "alembic_version_typo" in failed.stdout, failed.stdout[-4000:]
    assert_back_on_the_monolith(failed, platform, "alembic")


def test_verify_finds_a_difference(platform):
    ok(migrate("--tags", UP_TO_PROVISION + ",transfer,alembic"))
    # A value the source does not have appears in a target before the verification (same row count).
    psql("yemma-postgres-payment", "payment_db",
         "UPDATE quotas SET max_offers = max_offers + 1 WHERE id = (SELECT min(id) FROM quotas)")
    failed = migrate()
    assert "public.quotas" in failed.stdout, failed.stdout[-4000:]
    assert_back_on_the_monolith(failed, platform, "verify")


def test_a_table_created_after_the_plan_is_caught_at_the_freeze(platform):
    ok(migrate("--tags", "preflight,plan"))
    # A deploy adds a table while the migration waits: the recorded plan does not have it.
    psql("yemma-postgres", "yemma_db", "CREATE TABLE public.deployed_meanwhile (id int PRIMARY KEY)")
    try:
        failed = migrate("--tags", "stop,backup")
        said = " ".join(failed.stdout.split())
        assert "the plan does not account for: public.deployed_meanwhile" in said, said[-4000:]
        assert_back_on_the_monolith(failed, platform, "backup")
        assert "stop" not in progress()  # forgotten: the next run stops again and takes a new backup
    finally:
        psql("yemma-postgres", "yemma_db", "DROP TABLE IF EXISTS public.deployed_meanwhile")


def progress():
    with open(os.path.join(STATE_DIR, "state.json")) as stream:
        return json.load(stream)["steps"]


def test_a_target_stopped_between_transfer_and_verify_fails_before_any_service_starts(platform):
    stopped = []

    def stop_a_target_once_alembic_is_recorded():
        # As the runbook's tight memory limits can: the target dies between the phases.
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not stopped:
            try:
                if "alembic" in progress():
                    run(["docker", "kill", "yemma-postgres-auth"])
                    stopped.append(True)
            except (OSError, ValueError):
                pass  # not written yet, or being replaced
            time.sleep(0.2)

    watcher = threading.Thread(target=stop_a_target_once_alembic_is_recorded, daemon=True)
    watcher.start()
    failed = migrate()
    watcher.join(timeout=5)
    assert stopped, failed.stdout[-4000:]
    assert_back_on_the_monolith(failed, platform, "verify")
    assert "cutover" not in progress()  # no service ever started on a new database
    assert health("yemma-postgres-auth") == "stopped"  # left as it is, for inspection


def test_a_write_through_the_freeze_is_caught_before_the_cutover(platform):
    ok(migrate("--tags", UP_TO_PROVISION + ",transfer,alembic,verify"))
    update = "UPDATE quotas SET max_offers = max_offers + 1 WHERE id = (SELECT min(id) FROM quotas)"
    psql_argv = ["docker", "exec", "yemma-postgres", "psql", "-X", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-d", "yemma_db"]
    # A session as it connects is refused by the freeze...
    refused = run([*psql_argv, "-c", update], check=False)
    assert refused.returncode != 0 and "read-only transaction" in refused.stderr, refused.stderr
    # ...but one that turns read-only off for itself writes (the services' role is a superuser).
    run([*psql_argv, "-c", "SET default_transaction_read_only = off", "-c", update])
    with_the_write = table_digests("yemma-postgres", "yemma_db", TABLES)
    assert with_the_write != platform
    # At -vvv, which must not print the password either.
    failed = migrate("-vvv")
    said = " ".join(failed.stdout.split())
    assert "rows of yemma_db changed since the backup" in said and "public.quotas: updated" in said, said[-6000:]
    assert "cutover" not in progress()
    # The write is kept: the platform is back on the monolith, which holds it.
    assert_back_on_the_monolith(failed, with_the_write, "cutover")
    password = run(["sed", "-n", "s/^DB_PASSWORD=//p", os.path.join(PROJECT_DIR, ".env")]).stdout.strip().encode()
    assert password
    assert_secret_kept(password, failed, STATE_DIR)


class Writer(threading.Thread):
    """Creates users through whichever auth service runs, as clients would, and keeps every id
    a 201 acknowledged: each must be in the database the platform serves on at the end."""

    def __init__(self):
        super().__init__(daemon=True)
        self.acknowledged, self.done = [], threading.Event()

    def run(self):
        while not self.done.is_set():
            try:
                base = f"http://{container_ip('yemma-auth')}:8000"
                self.acknowledged.append(int(http_json(base + "/items", method="POST", body={}, status=201)["user_id"]))
            except (AssertionError, OSError, KeyError, IndexError, ValueError):
                time.sleep(0.2)  # stopped, starting, or refusing while frozen: not acknowledged


def test_a_failure_after_the_services_started_goes_back_through_the_reverse_stream_keeping_every_write(platform):
    # Cases 2 and 3 of the class "the new services may have written": an error found in their
    # logs once they run on the new databases (here every line is one). The platform goes back
    # through the reverse stream, and every write a client was told was saved is in yemma_db.
    ok(migrate("--tags", UP_TO_PROVISION + ",transfer,alembic,verify"))
    (last_before,), = psql("yemma-postgres", "yemma_db", "SELECT max(id) FROM users")
    writer = Writer()
    writer.start()
    try:
        failed = migrate("-e", '{"dbsplit_log_errors": ["."]}')
    finally:
        writer.done.set()
        writer.join(timeout=30)
    said = " ".join(failed.stdout.split())
    assert failed.returncode != 0 and "phase cutover failed" in said, said[-6000:]
    assert "rolled back to the monolith through the reverse stream" in said, said[-6000:]
    # Written by the new services (the old ones were stopped and yemma_db frozen since the backup).
    by_new_services = [user for user in writer.acknowledged if user > int(last_before)]
    assert by_new_services, f"no write reached the new services ({len(writer.acknowledged)} acknowledged in all)"
    kept = {int(row[0]) for row in psql("yemma-postgres", "yemma_db", "SELECT id FROM users WHERE id IN ("
                                        + ",".join(map(str, writer.acknowledged)) + ")")}
    assert kept == set(writer.acknowledged), sorted(set(writer.acknowledged) - kept)
    print(f"\nrollback after the services started: {len(by_new_services)} writes made through the new services, "
          f"{len(writer.acknowledged)} acknowledged in all, every one in yemma_db")
    (frozen,), = psql("yemma-postgres", "yemma_db", "SHOW default_transaction_read_only")
    assert frozen == "off"
    for service in BACKEND:
        assert health(f"yemma-{service}") == "healthy", service
    assert http_json(f"http://{container_ip('yemma-auth')}:8000/info")["db_name"] == "yemma_db"
    assert not os.path.exists(STATE_DIR + ".lock")
    # The new databases are marked returned: the next migration rebuilds them without a hand cleanup.
    with open(os.path.join(STATE_DIR, "state.json")) as stream:
        assert len(json.load(stream)["returned"]) == 6

