"""Phases run alone by their tags, on the real sandbox over real SSH, as an operator who
stops after the freeze and goes on phase by phase would run them: each works from what
the progress (state.json) records, refuses with the tags to add when what it needs has
not run, and the report alone only reads."""

import json
import os

import pytest

from sandbox import MAP, SERVICES, ansible_playbook, health, platform_snapshot, psql, sandbox, table_digests

STATE_DIR = os.environ.get("SANDBOX_STATE_DIR", "/var/backups/yemma-dbsplit")
TARGETS = {name: spec["endpoint"]["database"] for name, spec in SERVICES.items()}
CONTAINERS = {spec["endpoint"]["database"]: spec["endpoint"]["container"] for spec in SERVICES.values()}


@pytest.fixture(scope="module")
def stopped_run():
    """A migration stopped by the operator after phase 3: services stopped, source frozen."""
    sandbox("down")
    sandbox("up", "--size-mb", "10")
    result = ansible_playbook("migrate.yml", "-l", "sandbox", "--tags", "preflight,plan,stop")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    yield
    sandbox("down")


def progress():
    with open(os.path.join(STATE_DIR, "state.json")) as stream:
        return json.load(stream)["steps"]


def said(result):
    return " ".join(result.stdout.split())  # YAML output is folded at its width


def test_after_a_stopped_run_phases_go_on_alone_by_their_tags(stopped_run):
    assert sorted(progress()) == ["plan", "preflight", "stop"]
    assert health("yemma-auth") == "stopped" and not os.path.exists(STATE_DIR + ".lock")
    (frozen,), = psql("yemma-postgres", "yemma_db", "SHOW default_transaction_read_only")
    assert frozen == "on"

    # The transfer needs a backup and the new databases: refused, naming the tags, before any change.
    before = platform_snapshot(STATE_DIR)
    refused = ansible_playbook("migrate.yml", "-l", "sandbox", "--tags", "transfer")
    assert refused.returncode != 0 and "phase transfer needs backup, provision first" in said(refused), refused.stdout[-4000:]
    assert "add --tags backup,provision,transfer" in said(refused) and "nothing was changed" in said(refused)
    assert platform_snapshot(STATE_DIR) == before

    # The backup alone: from the stop phase's freeze, recorded for the transfer.
    backup = ansible_playbook("migrate.yml", "-l", "sandbox", "--tags", "backup")
    assert backup.returncode == 0, backup.stdout[-6000:] + backup.stderr[-3000:]
    manifest = progress()["backup"]["result"]["manifest"]
    assert os.path.exists(manifest["archive"]) and f"backup {manifest['id']}" in backup.stdout
    assert not os.path.exists(STATE_DIR + ".lock")

    # The report alone only reads: nothing on the host changes, and it says where the migration stands.
    before = platform_snapshot(STATE_DIR)
    report = ansible_playbook("migrate.yml", "-l", "sandbox", "--tags", "report")
    assert report.returncode == 0, report.stdout[-6000:] + report.stderr[-3000:]
    assert platform_snapshot(STATE_DIR) == before
    assert "in progress: done preflight, plan, stop, backup; run migrate.yml again to go on" in said(report)
    assert f"Backup: {manifest['archive']}" in said(report)

    # The transfer alone, once the new databases run: every target restored from that backup.
    provision = ansible_playbook("migrate.yml", "-l", "sandbox", "--tags", "provision")
    assert provision.returncode == 0, provision.stdout[-6000:] + provision.stderr[-3000:]
    transfer = ansible_playbook("migrate.yml", "-l", "sandbox", "--tags", "transfer")
    assert transfer.returncode == 0, transfer.stdout[-6000:] + transfer.stderr[-3000:]
    restores = progress()["transfer"]["result"]["restores"]
    assert {figures["action"] for figures in restores.values()} == {"restore"}
    # Keyed by server and database (two services may each have a database of the same name).
    assert sorted(restores) == sorted({f"{CONTAINERS[database]}/{database}" for database in TARGETS.values()})
    source = table_digests("yemma-postgres", "yemma_db", [t for ts in MAP.values() for t in ts])
    for service, tables in MAP.items():
        target = table_digests(CONTAINERS[TARGETS[service]], TARGETS[service], tables)
        assert {t: target[t] for t in tables} == {t: source[t] for t in tables}, service

    # The whole playbook then finishes: the backup and the transfer are kept, not redone.
    transferred = progress()["transfer"]
    rest = ansible_playbook("migrate.yml", "-l", "sandbox")
    assert rest.returncode == 0, rest.stdout[-8000:] + rest.stderr[-3000:]
    assert "migrated and verified" in rest.stdout
    steps = progress()
    assert steps["backup"]["result"]["manifest"] == manifest
    assert steps["transfer"] == transferred and steps["verify"]["run_id"] != transferred["run_id"]
    assert "backup: done by run" in said(rest) and "transfer: done by run" in said(rest)
    assert health("yemma-auth") == "healthy"


def test_finish_ends_the_way_back_and_a_rollback_after_it_is_refused(stopped_run):
    if not progress().get("cutover", {}).get("result", {}).get("completed_at"):  # run alone: migrate first
        migrated = ansible_playbook("migrate.yml", "-l", "sandbox")
        assert migrated.returncode == 0, migrated.stdout[-8000:] + migrated.stderr[-3000:]
    databases = sorted(set(TARGETS.values()))

    def streams():
        return (psql("yemma-postgres", "yemma_db", "SELECT count(*) FROM pg_subscription")[0][0],
                [psql(CONTAINERS[d], d, "SELECT (SELECT count(*) FROM pg_publication), (SELECT count(*) FROM pg_replication_slots)")[0]
                 for d in databases])

    assert streams() == ("6", [["1", "1"]] * 6)
    # Every check run, of any playbook, says where each stream stands and the WAL its slot holds.
    before = platform_snapshot(STATE_DIR)
    check = ansible_playbook("finish.yml", "-l", "sandbox", "--check")
    assert check.returncode == 0, check.stdout[-6000:] + check.stderr[-3000:]
    for database in databases:
        assert f"{database} -> yemma_db: applying, lag " in said(check) and "bytes of WAL (reserved)" in said(check)
    assert "checked, nothing changed: finishing would remove 6 reverse stream(s)" in said(check)
    refused = ansible_playbook("finish.yml", "-l", "sandbox")
    assert refused.returncode != 0 and "finish not confirmed" in said(refused) and "-e finish_confirm=true" in said(refused)
    assert platform_snapshot(STATE_DIR) == before and streams() == ("6", [["1", "1"]] * 6)
    # While the writes flow back, resetting a service's database from the backup would lose them: refused outright.
    reset = ansible_playbook("reset.yml", "-l", "sandbox", "-e", "service=auth", "-e", "reset_confirm=yes", "-e", "reset_force=yes")
    assert reset.returncode != 0 and "Repair it by going back: ansible-playbook rollback.yml -l sandbox" in said(reset), reset.stdout[-4000:]
    assert platform_snapshot(STATE_DIR) == before

    finished = ansible_playbook("finish.yml", "-l", "sandbox", "-e", "finish_confirm=yes")
    assert finished.returncode == 0, finished.stdout[-6000:] + finished.stderr[-3000:]
    assert "the migration is final: removed 6 reverse stream(s)" in said(finished)
    assert streams() == ("0", [["0", "0"]] * 6) and "finish" in progress()
    assert health("yemma-auth") == "healthy"

    # The way back is gone: a rollback refuses, saying why and what remains, in a check run too.
    manifest = progress()["backup"]["result"]["manifest"]
    before = platform_snapshot(STATE_DIR)
    for argv in (["--check"], ["-e", "rollback_confirm=yes"]):
        refused = ansible_playbook("rollback.yml", "-l", "sandbox", *argv)
        assert refused.returncode != 0, refused.stdout[-4000:]
        assert "the migration was finished at" in said(refused) and "finish.yml" in said(refused)
        assert manifest["archive"] in said(refused) and "Nothing was changed" in said(refused)
    # And migrating again only says where it stands.
    again = ansible_playbook("migrate.yml", "-l", "sandbox", "--check")
    assert again.returncode == 0, again.stdout[-6000:] + again.stderr[-3000:]
    assert platform_snapshot(STATE_DIR) == before
