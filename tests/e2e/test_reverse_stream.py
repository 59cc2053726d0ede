"""The reverse stream's core (module_utils/reverse.py) on two real PostgreSQL servers, for each
pair of versions (monolith -> new) of the supported matrix (VERSION_PAIRS).

A "monolith" server (frozen, as the stop phase leaves yemma_db) subscribes to two target
databases on a "new" server, as the cutover sets it up; the writes made on the targets
afterwards (inserts taking sequence values, updates, deletes, a parent deleted in one
database while its child lives in another) must reach the monolith, including those made
while the monolith was down; an apply error must stop the stream loudly. No Ansible here:
the playbooks' path over SSH is test_migrate.py's (rollback) and test_phases_alone.py's
(finish). One pair of containers, a few seconds a test.
"""

import subprocess
import time

import psycopg
import pytest

from ansible_collections.yemma.dbsplit.plugins.module_utils import pgconn, reverse
from sandbox import run

# (monolith, new databases): the matrix a migration may take, split-and-upgrade included.
VERSION_PAIRS = [(15, 15), (13, 15), (13, 17), (15, 17), (17, 17)]
PASSWORD = "reverse-Stream-pw-7"
MONOLITH, NEW = "dbsplit-test-reverse-monolith", "dbsplit-test-reverse-new"

MONOLITH_SQL = """
CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE profiles (id serial PRIMARY KEY, user_id int NOT NULL REFERENCES users (id), headline text);
CREATE TABLE events (at timestamptz NOT NULL, what text);
INSERT INTO users (name) SELECT 'user ' || i FROM generate_series(1, 20) i;
INSERT INTO profiles (user_id, headline) SELECT i, 'profile ' || i FROM generate_series(1, 10) i;
INSERT INTO events VALUES ('2026-01-01', 'created');
SELECT lo_from_bytea(1000 + i, convert_to(repeat('picture ' || i, 1000 * i), 'UTF8')) FROM generate_series(1, 3) i;
"""
# What the transfer leaves in each target: the service's tables, the rows, the sequences;
# the foreign key to a table of another database left out.
TARGET_SQL = {
    "auth": """
        CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL);
        INSERT INTO users (name) SELECT 'user ' || i FROM generate_series(1, 20) i;
        SELECT setval('users_id_seq', 20);""",
    "candidate": """
        CREATE TABLE profiles (id serial PRIMARY KEY, user_id int NOT NULL, headline text);
        CREATE TABLE events (at timestamptz NOT NULL, what text);
        INSERT INTO profiles (user_id, headline) SELECT i, 'profile ' || i FROM generate_series(1, 10) i;
        INSERT INTO events VALUES ('2026-01-01', 'created');
        SELECT setval('profiles_id_seq', 10);
        SELECT lo_from_bytea(1000 + i, convert_to(repeat('picture ' || i, 1000 * i), 'UTF8')) FROM generate_series(1, 3) i;""",
}
TABLES = {"auth": ["public.users"], "candidate": ["public.profiles", "public.events"]}
SEQUENCES = {"auth": ["public.users_id_seq"], "candidate": ["public.profiles_id_seq"]}
PROFILES_FK = [{"table": "public.profiles", "constraint": "profiles_user_id_fkey"}]


# Every way a server may log or keep a statement's text, on: the password that CREATE
# SUBSCRIPTION carries must reach none of them (pgBadger setups log every statement's duration).
LOG_EVERY_STATEMENT = ("-c", "log_statement=all", "-c", "log_min_duration_statement=0",
                       "-c", "shared_preload_libraries=pg_stat_statements", "-c", "pg_stat_statements.track=all")


def start(name, major, *args):
    """A PostgreSQL ``major`` server (the sandbox's image of that version) in a container."""
    run(["docker", "rm", "--force", "--volumes", name], check=False, timeout=60)
    run(["docker", "run", "-d", "--name", name, "-e", f"POSTGRES_PASSWORD={PASSWORD}", f"local/yemma-postgres:{major}",
         *args], timeout=60)
    return ready(name)


def ready(name):
    for _ in range(60):
        if run(["docker", "exec", name, "pg_isready", "-q", "-h", "127.0.0.1"], check=False, timeout=10).returncode == 0:
            return run(["docker", "inspect", "--format", "{{.NetworkSettings.IPAddress}}", name], timeout=30).stdout.strip()
        subprocess.run(["sleep", "0.5"], timeout=5)
    raise AssertionError(f"{name} did not become ready")


def assert_password_unseen(name, host):
    """PASSWORD is in no line of the server's log and no statement pg_stat_statements keeps,
    both of which hold the statements the test ran (they did record)."""
    logged = run(["docker", "logs", name], timeout=60)
    log = logged.stdout + logged.stderr
    with connect(host, "postgres") as conn:
        kept = [query for (query,) in conn.execute("SELECT query FROM pg_stat_statements")]
    assert "statement: CREATE DATABASE" in log and any(query.startswith("CREATE DATABASE") for query in kept)
    assert PASSWORD not in log, f"the password is in {name}'s log"
    assert not [query for query in kept if PASSWORD in query], f"the password is in {name}'s pg_stat_statements"


def params(host, database):
    return {"login_host": host, "login_port": 5432, "login_user": "postgres", "login_password": PASSWORD,
            "db": database, "tool_name": "dbsplit-test", "tools_host": host}


def connect(host, database):
    return pgconn.connect(psycopg, params(host, database))


def rows(conn, table):
    return conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()


@pytest.fixture(scope="module", params=VERSION_PAIRS, ids=lambda pair: f"{pair[0]}-to-{pair[1]}")
def servers(request):
    monolith_major, new_major = request.param
    try:
        monolith, new = start(MONOLITH, monolith_major, *LOG_EVERY_STATEMENT), start(NEW, new_major, *LOG_EVERY_STATEMENT)
        with connect(monolith, "postgres") as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
            conn.execute("CREATE DATABASE yemma")
        with connect(monolith, "yemma") as conn:
            conn.execute(MONOLITH_SQL)
            conn.execute("ALTER DATABASE yemma SET default_transaction_read_only = on")  # the freeze
        with connect(new, "postgres") as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
            for database, sql in TARGET_SQL.items():
                conn.execute(f"CREATE DATABASE {database}")
                with connect(new, database) as target:
                    target.execute(sql)
        yield {"monolith": monolith, "new": new}
    finally:
        for name in (MONOLITH, NEW):
            run(["docker", "rm", "--force", "--volumes", name], check=False, timeout=60)


def restart(name):
    run(["docker", "restart", name], timeout=120)
    return ready(name)


def name_of(database):
    return reverse.subscription_name(f"{NEW}/{database}", database)


def test_the_servers_are_prepared_and_a_table_without_a_key_is_refused_unless_listed(servers):
    with connect(servers["new"], "candidate") as conn:
        changes, restart_needed, by_hand = reverse.prepare_publisher(conn, 64, check_mode=True)
        assert restart_needed and changes[0] == "wal_level replica -> logical (restart)" and by_hand == []
        assert conn.execute("SHOW wal_level").fetchone()[0] == "replica"  # check mode changed nothing
        reverse.prepare_publisher(conn, 64, check_mode=False)
        assert reverse.publisher_problems(conn, 2)[0].startswith("wal_level is replica")
        problems = reverse.identity_problems(conn, TABLES["candidate"], [])
        assert len(problems) == 1 and problems[0].startswith("table public.events has no primary key")
        assert "dbsplit_replica_identity_full" in problems[0]
        assert reverse.identity_problems(conn, TABLES["candidate"], ["public.events"]) == []
        (typo,) = reverse.identity_problems(conn, TABLES["candidate"], ["public.events", "public.evnets"])
        assert typo.startswith("dbsplit_replica_identity_full names public.evnets, which is no table")
    servers["new"] = restart(NEW)
    with connect(servers["new"], "candidate") as conn:
        assert conn.execute("SHOW wal_level").fetchone()[0] == "logical"
        assert conn.execute("SHOW max_slot_wal_keep_size").fetchone()[0] == "64MB"
        assert reverse.publisher_problems(conn, 2) == []
        assert reverse.prepare_publisher(conn, 64, check_mode=False) == ([], False, [])  # idempotent

    with connect(servers["monolith"], "yemma") as conn:
        changes, restart_needed, _by_hand = reverse.prepare_subscriber(conn, 6, check_mode=False)
        assert restart_needed and "max_logical_replication_workers 4 -> 6 (restart)" in changes
    servers["monolith"] = restart(MONOLITH)
    with connect(servers["monolith"], "yemma") as conn:
        assert conn.execute("SHOW max_logical_replication_workers").fetchone()[0] == "6"
        assert reverse.prepare_subscriber(conn, 6, check_mode=False) == ([], False, [])


def subscribe_all(servers):
    with connect(servers["monolith"], "yemma") as monolith:
        for database, tables in TABLES.items():
            with connect(servers["new"], database) as target:
                assert reverse.publish(target, tables, ["public.events"], check_mode=False)
                connection = reverse.conninfo(params(servers["new"], database), PASSWORD)
                assert reverse.subscribe(monolith, target, name_of(database), connection, check_mode=False)
                # Again: nothing to do.
                assert not reverse.publish(target, tables, ["public.events"], check_mode=False)
                assert not reverse.subscribe(monolith, target, name_of(database), connection, check_mode=False)


def caught_up(servers):
    with connect(servers["monolith"], "yemma") as monolith:
        for database in TABLES:
            with connect(servers["new"], database) as target:
                seconds, lsn = reverse.wait_applied(monolith, target, name_of(database), timeout=60)
                assert lsn


def test_every_write_on_the_targets_reaches_the_frozen_monolith_even_one_made_while_it_was_down(servers):
    subscribe_all(servers)
    with connect(servers["new"], "auth") as auth, connect(servers["new"], "candidate") as candidate:
        auth.execute("INSERT INTO users (name) SELECT 'new ' || i FROM generate_series(1, 5) i")  # ids 21..25
        auth.execute("UPDATE users SET name = 'renamed' WHERE id = 3")
        auth.execute("DELETE FROM users WHERE id = 20")
        candidate.execute("INSERT INTO profiles (user_id, headline) VALUES (21, 'new profile')")
        candidate.execute("UPDATE events SET what = 'changed' WHERE what = 'created'")  # REPLICA IDENTITY FULL
        candidate.execute("DELETE FROM profiles WHERE id = 1")
    caught_up(servers)

    # The monolith goes away; the targets keep writing; their slots hold the WAL meanwhile.
    run(["docker", "stop", MONOLITH], timeout=120)
    with connect(servers["new"], "auth") as auth, connect(servers["new"], "candidate") as candidate:
        auth.execute("INSERT INTO users (name) SELECT 'while away ' || i FROM generate_series(1, 500) i")
        candidate.execute("UPDATE profiles SET headline = headline || ' (edited while away)' WHERE id <= 5")
        # A parent deleted in one database, its child kept in another: nothing can stop it.
        auth.execute("DELETE FROM users WHERE id = 21")
    with connect(servers["new"], "auth") as auth:
        held = auth.execute(reverse.STATUS_SQL, (name_of("auth"),)).fetchone()
        assert held[0] is False and held[3] > 0, held  # not connected, WAL kept
    servers["monolith"] = restart(MONOLITH)
    caught_up(servers)

    with connect(servers["monolith"], "yemma") as monolith:
        for database, tables in TABLES.items():
            with connect(servers["new"], database) as target:
                for table in tables:
                    assert rows(monolith, table) == rows(target, table), table
                figures = reverse.status(monolith, target, name_of(database))
                assert figures["exists"] and figures["enabled"] and figures["lag_bytes"] == 0, figures
                assert reverse.problems_of(name_of(database), figures) == []
        # Still frozen for everyone else.
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            monolith.execute("INSERT INTO users (name) VALUES ('sneaked in')")
    assert_password_unseen(MONOLITH, servers["monolith"])
    assert_password_unseen(NEW, servers["new"])


def test_sequences_go_back_and_an_orphan_is_listed_with_its_key(servers):
    with connect(servers["monolith"], "yemma") as monolith:
        for database in TABLES:
            with connect(servers["new"], database) as target:
                moved = reverse.carry_sequences(target, monolith, SEQUENCES[database], check_mode=False)
                assert [m["sequence"] for m in moved] == SEQUENCES[database]
                assert reverse.carry_sequences(target, monolith, SEQUENCES[database], check_mode=False) == []
        assert monolith.execute("SELECT last_value FROM users_id_seq").fetchone()[0] == 525
        found = reverse.orphans(monolith, PROFILES_FK)
        assert found == [{"table": "public.profiles", "constraint": "profiles_user_id_fkey", "references": "public.users",
                          "rows": 1, "examples": ["(id)=(11) -> public.users (id)=(21)"]}]
        assert reverse.orphan_lines(found) == [
            "public.profiles: 1 row(s) break profiles_user_id_fkey (their parent in public.users is gone): "
            "(id)=(11) -> public.users (id)=(21)"]


def test_large_objects_go_back_object_by_object(servers):
    with connect(servers["new"], "candidate") as target:
        target.execute("SELECT lo_unlink(1001)")
        target.execute("SELECT lo_put(1002, 5, 'CHANGED')")
        target.execute("SELECT lo_from_bytea(2000, decode(repeat('ab', %s), 'hex'))", (3 * reverse.LARGE_OBJECT_CHUNK // 2,))
    with connect(servers["monolith"], "yemma") as monolith, connect(servers["new"], "candidate") as target:
        assert reverse.carry_large_objects(target, monolith, check_mode=True) == [
            {"oid": 1001, "action": "removed"}, {"oid": 1002, "action": "rewritten"}, {"oid": 2000, "action": "created"}]
        assert len(reverse.carry_large_objects(target, monolith, check_mode=False)) == 3
        assert reverse.carry_large_objects(target, monolith, check_mode=False) == []
        hashes = reverse.LARGE_OBJECT_HASHES_SQL + " ORDER BY 1"
        assert monolith.execute(hashes).fetchall() == target.execute(hashes).fetchall()
        assert len(monolith.execute("SELECT lo_get(2000)").fetchone()[0]) == 3 * reverse.LARGE_OBJECT_CHUNK // 2


def test_a_change_the_monolith_cannot_apply_stops_the_stream_loudly(servers):
    with connect(servers["monolith"], "yemma") as monolith:
        monolith.execute("SET default_transaction_read_only = off")
        monolith.execute("INSERT INTO users (id, name) VALUES (9000, 'only in the monolith')")
    with connect(servers["new"], "auth") as auth:
        auth.execute("INSERT INTO users (id, name) VALUES (9000, 'conflicts')")
    with connect(servers["monolith"], "yemma") as monolith, connect(servers["new"], "auth") as auth:
        with pytest.raises(reverse.ReverseError, match="disabled after .* apply error"):
            reverse.wait_applied(monolith, auth, name_of("auth"), timeout=60)


def test_the_streams_are_removed_from_both_ends(servers):
    with connect(servers["monolith"], "yemma") as monolith:
        for database in TABLES:
            with connect(servers["new"], database) as target:
                assert reverse.unsubscribe(monolith, name_of(database), check_mode=False)
                reverse.unpublish(target, name_of(database), check_mode=False)
                assert not reverse.unsubscribe(monolith, name_of(database), check_mode=False)
                assert not reverse.unpublish(target, name_of(database), check_mode=False)
                assert not reverse.status(monolith, target, name_of(database))["exists"]
                assert target.execute("SELECT count(*) FROM pg_publication").fetchone()[0] == 0
        assert monolith.execute("SELECT count(*) FROM pg_subscription").fetchone()[0] == 0
    with connect(servers["new"], "postgres") as server:
        assert server.execute("SELECT count(*) FROM pg_replication_slots").fetchone()[0] == 0
