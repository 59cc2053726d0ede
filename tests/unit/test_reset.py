"""What stops reset.yml before any change (plugin_utils/reset): each refusal names its fix."""

import os

import yaml

from ansible_collections.yemma.dbsplit.plugins.module_utils import machine
from ansible_collections.yemma.dbsplit.plugins.plugin_utils import reset

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(ROOT, "group_vars", "all", "main.yml")) as _stream:
    SERVICES = yaml.safe_load(_stream)["dbsplit_services"]
AUTH = "yemma-postgres-auth/auth_db"


def endpoints(running=True):
    return {"targets": {AUTH: {"label": "auth_db", "running": running, "compose_service": "postgres-auth"}}}


def view(**steps):
    progress = {"sequence": 0, "steps": {phase: {"sequence": n, "run_id": "r", "at": "t", "result": result}
                                         for n, (phase, result) in enumerate(steps.items(), 1)}}
    return machine.recorded(progress)


def refusals(service="auth", recorded=None, running=True, from_backup=False):
    return reset.refusals(service, SERVICES, recorded or view(), endpoints(running), "prod", "docker-compose.yml", from_backup)


def test_a_reset_of_a_mapped_running_database_before_any_migration_is_allowed():
    assert refusals() == []


def test_each_refusal_names_its_fix():
    (unknown,) = refusals("billing")
    assert unknown.startswith("service billing is not in the map (dbsplit_services): run ansible-playbook reset.yml -l prod "
                              "-e service=NAME, NAME one of audit, auth, candidate")
    (stopped,) = refusals(running=False)
    assert stopped.startswith("auth_db is not running: start it (docker compose -f docker-compose.yml up -d --wait postgres-auth)")
    streaming = view(cutover={"started_at": "t0", "reverse_stream": True})
    (live,) = refusals(recorded=streaming)
    assert "through the reverse stream: a reset from the migration backup would throw away what auth wrote since" in live
    finished = view(cutover={"started_at": "t0", "completed_at": "t1", "reverse_stream": False}, finish={"finished_at": "t2"})
    assert refusals(recorded=finished)[0].startswith("the migration was finished (finish.yml)")
    online = view(backup={"manifest": {"id": "b"}, "while_serving": True})
    assert refusals(recorded=online, from_backup=True)[0].startswith("this migration ran online")


def test_the_backup_and_the_monolith_are_checked_before_anything_is_emptied():
    manifest = {"sha256": "abc", "archive": "/var/backups/yemma-dbsplit/backup/b.dump"}
    assert reset.backup_refusals(manifest, {"exists": True, "checksum": "abc"}, "yemma_db", True, True) == []
    (damaged,) = reset.backup_refusals(manifest, {"exists": True, "checksum": "abd"}, "yemma_db", True, True)
    assert "is damaged (its sha256 is not the one recorded)" in damaged
    (missing, stopped) = reset.backup_refusals(manifest, {"exists": False}, "yemma_db", False, False)
    assert "is missing" in missing and stopped.startswith("yemma_db is not running")
    (thawed,) = reset.backup_refusals(manifest, {"exists": True, "checksum": "abc"}, "yemma_db", True, False)
    assert thawed.startswith("yemma_db is writable again")


def test_the_one_line_says_what_was_emptied_and_how_it_was_filled():
    report = {"check_mode": False, "database": "candidate_db", "dropped_objects": 31, "filled_from": "installation",
              "tables": 6, "rows": 0, "source": "yemma_db", "started_again": ["candidate"], "seconds": 19.0}
    assert reset.summary(report) == ("candidate_db was emptied (31 objects) and filled again as an installation: 6 tables "
                                     "created, Alembic at head; 1 services started again after 19.0 s")
    backed = dict(report, filled_from="backup b1", rows=852852)
    assert "filled again from backup b1: 6 tables, 852852 rows proven equal to yemma_db" in reset.summary(backed)
    assert reset.summary(dict(report, check_mode=True)).startswith("checked, nothing changed: candidate_db would be emptied")


def test_rows_the_reset_would_replace_are_refused_table_by_table_with_what_else_it_puts_back():
    found = {"losses": [{"table": "public.roles", "state": "differs", "rows": 26, "source_rows": 13},
                        {"table": "public.users", "state": "missing", "rows": 0, "source_rows": 213},
                        {"table": "public.sessions", "state": "same", "rows": 5, "source_rows": 5}]}
    replaced = reset.losses(found, from_backup=True)
    assert reset.losses_refusal(replaced, "auth_db", "migrating", None, reset.view(found, True)) == [
        "auth_db holds rows the reset would replace:",
        "public.roles: 26 rows now, 13 once reset",
        "It would also put back:",
        "public.users: missing (213 rows once reset)",
        "Save what you need, then run again with -e reset_force=true to replace them. Nothing was changed."]
    assert reset.losses_refusal([], "auth_db", "migrating", None, reset.view(found, True)) == []
    after_cutover = reset.losses_refusal(replaced, "auth_db", "completed", "t0", [])
    assert after_cutover[0] == ("auth_db holds rows the reset would replace (the services have run on it since the cutover "
                                "at t0, so they may be theirs):")
