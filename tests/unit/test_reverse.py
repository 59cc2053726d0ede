"""The reverse stream's pure logic: names, the subscriber's connection string, what stops a
stream, and how the operator reads it (its SQL runs on real servers in
tests/e2e/test_reverse_stream.py)."""

import collections
import re

from ansible_collections.yemma.dbsplit.plugins.filter import dbsplit as filters
from ansible_collections.yemma.dbsplit.plugins.module_utils import reverse
from ansible_collections.yemma.dbsplit.plugins.plugin_utils import rollback


def test_a_stream_name_is_a_valid_slot_name_unique_per_server_and_database():
    same_database = {reverse.subscription_name(f"{server}/app", "app") for server in ("pg-a", "pg-b")}
    assert len(same_database) == 2
    long = reverse.subscription_name("pg/" + "É" * 63, "Sales & Returns " + "É" * 60)
    for name in same_database | {long}:
        # A replication slot's name: lower case letters, digits and underscores, 63 bytes at most.
        assert re.fullmatch(r"[a-z0-9_]{1,63}", name), name
    assert reverse.subscription_name("pg/app", "app") == reverse.subscription_name("pg/app", "app")


def test_the_connection_string_quotes_what_libpq_would_misread():
    runtime = {"tools_host": "yemma-postgres-auth", "login_port": 5432, "db": "auth db", "login_user": "o'brien"}
    text = reverse.conninfo(runtime, "p@ss w'rd\\x")
    assert "host='yemma-postgres-auth'" in text and "port='5432'" in text
    assert "dbname='auth db'" in text and "user='o\\'brien'" in text
    assert "password='p@ss w\\'rd\\\\x'" in text


def test_what_stops_a_stream_is_named_with_its_fix():
    assert "is missing" in reverse.problems_of("s", {"exists": False})[0]
    lost = reverse.problems_of("s", {"exists": True, "enabled": True, "wal_status": "lost"})
    assert len(lost) == 1 and "max_slot_wal_keep_size" in lost[0] and "migration backup" in lost[0]
    disabled = reverse.problems_of("s", {"exists": True, "enabled": False, "apply_errors": 2, "wal_status": "reserved"})
    assert len(disabled) == 1 and "2 apply error(s)" in disabled[0] and "ALTER SUBSCRIPTION s ENABLE" in disabled[0]
    assert reverse.problems_of("s", {"exists": True, "enabled": True, "wal_status": "extended"}) == []


def test_the_subscription_takes_what_both_servers_versions_allow():
    on_13 = reverse.subscription_options(130016, 170002, copy_data=False)
    assert on_13 == {"copy_data": "false", "create_slot": "true"}  # wait_applied stops it on an apply error
    assert reverse.subscription_options(150018, 130016, copy_data=True) == {
        "copy_data": "true", "create_slot": "true", "disable_on_error": "true"}
    assert reverse.subscription_options(170002, 150018, copy_data=True) == {
        "copy_data": "true", "create_slot": "true", "disable_on_error": "true", "origin": "none"}
    # Binary rows only between two servers of the same major version (the initial copy needs it).
    assert reverse.subscription_options(170002, 170004, copy_data=True)["binary"] == "true"


def test_before_15_a_stream_whose_worker_keeps_failing_is_found_and_only_it():
    def polls(connected, apply_errors=None, enabled=True, count=6):
        recent = collections.deque(maxlen=6)
        return [reverse.failing({"apply_errors": apply_errors, "enabled": enabled, "connected": c}, recent)
                for c in (connected * count)[:count]]
    # Connected a moment each round (the worker restarts after each error): failing once the window is full.
    assert polls([False, False, True]) == [False] * 5 + [True]
    assert polls([True]) == [False] * 6  # a healthy stream
    assert polls([False, True]) == [False] * 6  # connected half the time: not judged failing
    assert polls([False], apply_errors=0) == [False] * 6  # 15 and later: disable_on_error stops it
    assert polls([False], enabled=False) == [False] * 6  # already stopped


def test_before_15_a_disabled_stream_says_an_apply_error_stopped_it():
    (problem,) = reverse.problems_of("s", {"exists": True, "enabled": False, "apply_errors": None})
    assert problem.startswith("subscription s is disabled after an apply error or a publisher it could not reach")
    assert "PostgreSQL before 15 counts no errors" in problem and "ALTER SUBSCRIPTION s ENABLE" in problem


def test_the_operator_reads_each_stream_in_one_line():
    item = {"label": "auth_db", "key": "pg/auth_db"}
    running = {**item, "status": {"exists": True, "enabled": True, "applying": True, "lag_bytes": 120,
                                        "lag_seconds": 0.4, "held_bytes": 4096, "wal_status": "reserved"}}
    assert filters.reverse_result_line(running, "yemma_db") == (
        "auth_db -> yemma_db: applying, lag 120 bytes, 0.4 s; slot holds 4096 bytes of WAL (reserved)")
    away = {**item, "status": dict(running["status"], applying=False, lag_seconds=None)}
    assert "not applying, lag 120 bytes, monolith not connected" in filters.reverse_result_line(away, "yemma_db")
    assert filters.reverse_result_line({**item, "status": {"exists": False}}, "yemma_db") == (
        "auth_db -> yemma_db: no reverse stream")


def test_the_rollback_report_joins_each_wait_with_the_orphans_found_once_all_caught_up():
    auth, candidate = {"label": "auth_db", "key": "pg/auth_db"}, {"label": "candidate_db", "key": "pg/candidate_db"}
    orphan = {"table": "public.profiles", "constraint": "fk", "references": "public.users", "rows": 1, "examples": ["x"]}
    proven = rollback.proof(
        {"tables": {"pg/auth_db": [{"table": "public.users", "rows": 3}]}},
        [{**auth, "waited_seconds": 0.5, "applied_lsn": "0/1", "sequences": []},
         {**candidate, "waited_seconds": 1.0, "applied_lsn": "0/2", "sequences": [{"sequence": "s"}]}],
        [{**auth, "orphans": []}, {**candidate, "orphans": [orphan]}], False, "t0")
    assert [(f["target"], f["orphans"]) for f in proven["streams"]] == [("auth_db", []), ("candidate_db", [orphan])]
    assert (proven["tables"], proven["rows"]) == (1, 3)
    assert reverse.orphan_lines([dict(orphan, rows=12)]) == [
        "public.profiles: 12 row(s) break fk (their parent in public.users is gone): x ..."]
