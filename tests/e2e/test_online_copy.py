"""Online mode's core (module_utils/online.py, and reverse.py used forward) on two real
PostgreSQL 15 servers: a live "monolith" (wal_level = logical) publishes, a "new" server's
database subscribes and copies while the monolith takes writes; then the catch-up, the
sequences, a schema change found, the proof on snapshots while the target is written to, and
the removal from both ends. No Ansible here: the playbooks' path is test_online_mode.py's.
"""

import psycopg
import pytest

from ansible_collections.yemma.dbsplit.plugins.module_utils import online, reverse, verify
from test_reverse_stream import PASSWORD, connect, params, rows, run, start

MONOLITH, NEW = "dbsplit-test-online-monolith", "dbsplit-test-online-new"
SCHEMA = """
CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE events (user_id int, what text);
"""
ROWS = """
INSERT INTO users (name) SELECT 'user ' || i FROM generate_series(1, 20000) i;
INSERT INTO events SELECT i, 'login' FROM generate_series(1, 500) i;
"""
TABLES = ["public.users", "public.events"]
PLAN = {"label": "app", "tables": [{"name": t} for t in TABLES], "dropped_foreign_keys": [], "large_objects": None,
        "objects": {"users": {"class": "pg_class", "kind": "r", "identity": "public.users", "top_level": True,
                              "type": "table", "address": None},
                    "events": {"class": "pg_class", "kind": "r", "identity": "public.events", "top_level": True,
                               "type": "table", "address": None},
                    "seq": {"class": "pg_class", "kind": "S", "identity": "public.users_id_seq", "top_level": False,
                            "type": "sequence", "address": None}}}
NAME = online.stream_name("new/app", "app")


@pytest.fixture(scope="module")
def servers():
    try:
        monolith, new = start(MONOLITH, "-c", "wal_level=logical"), start(NEW)
        with connect(monolith, "postgres") as conn:
            conn.execute("CREATE DATABASE yemma")
        with connect(monolith, "yemma") as conn:
            conn.execute(SCHEMA + ROWS)
        with connect(new, "postgres") as conn:
            conn.execute("CREATE DATABASE app")
        with connect(new, "app") as conn:
            conn.execute(SCHEMA)  # what the transfer restores: the schema, no row
        yield {"monolith": monolith, "new": new}
    finally:
        for name in (MONOLITH, NEW):
            run(["docker", "rm", "--force", "--volumes", name], check=False, timeout=60)


def test_the_copy_runs_while_the_monolith_takes_writes_and_the_catch_up_leaves_them_equal(servers):
    with connect(servers["monolith"], "yemma") as monolith, connect(servers["new"], "app") as target:
        # The keyless table: refused unless listed, then published with REPLICA IDENTITY FULL on the monolith.
        assert "table public.events has no primary key" in reverse.identity_problems(monolith, TABLES, [])[0]
        assert reverse.identity_problems(monolith, TABLES, ["public.events"]) == []
        assert reverse.publish(monolith, TABLES, ["public.events"], check_mode=False, publication=NAME)
        assert monolith.execute("SELECT relreplident FROM pg_class WHERE oid = 'events'::regclass").fetchone() == ("f",)
        connection = reverse.conninfo(params(servers["monolith"], "yemma"), PASSWORD, online.APPLICATION)
        assert reverse.subscribe(target, monolith, NAME, connection, check_mode=False, copy_data=True, publication=NAME)
        online.note_start(target, NAME)
        assert not reverse.subscribe(target, monolith, NAME, connection, check_mode=False, copy_data=True,
                                     publication=NAME)  # a run again finds it: the copy goes on

        # The old services write meanwhile: inserts, an update and a delete on the keyless table.
        monolith.execute("INSERT INTO users (name) SELECT 'late ' || i FROM generate_series(1, 100) i")
        monolith.execute("UPDATE events SET what = 'logout' WHERE user_id <= 10")
        monolith.execute("DELETE FROM events WHERE user_id > 490")
        monolith.execute("UPDATE users SET name = 'renamed' WHERE id = 7")

        progress = online.copy_progress(monolith, target, NAME, TABLES)
        assert progress["count"] == 2 and progress["bytes"] > 0
        line = online.progress_line("app", progress, reverse.status(target, monolith, NAME), online.started_at(target, NAME))
        assert line.startswith("app: ") and "tables copied" in line

        # The cutover: frozen, then caught up to the monolith's position.
        monolith.execute("ALTER DATABASE yemma SET default_transaction_read_only = on")
        seconds, _position = reverse.wait_applied(target, monolith, NAME, timeout=120)
        assert online.copy_progress(monolith, target, NAME, TABLES)["copied"] == 2
        for table in TABLES:
            assert rows(target, table) == rows(monolith, table), table
        assert len(rows(target, "public.users")) == 20100
        assert reverse.carry_sequences(monolith, target, ["public.users_id_seq"], check_mode=False)
        assert reverse.carry_sequences(monolith, target, ["public.users_id_seq"], check_mode=True) == []
        assert online.schema_changes(monolith, target, TABLES, {}) == []


def test_a_schema_change_on_the_monolith_is_named(servers):
    with connect(servers["monolith"], "yemma") as monolith, connect(servers["new"], "app") as target:
        monolith.execute("SET default_transaction_read_only = off")
        monolith.execute("ALTER TABLE users ADD COLUMN nickname text")
        monolith.execute("CREATE INDEX users_name ON users (name)")
        changes = online.schema_changes(monolith, target, TABLES, {})
        assert "public.users: column nickname added (text)" in changes
        assert any(c.startswith("public.users: index users_name added") for c in changes), changes
        monolith.execute("DROP INDEX users_name")
        monolith.execute("ALTER TABLE users DROP COLUMN nickname")
        assert online.schema_changes(monolith, target, TABLES, {}) == []


def test_the_proof_on_snapshots_compares_the_freeze_while_the_target_is_written_to(servers):
    source, new = params(servers["monolith"], "yemma"), params(servers["new"], "app")
    with connect(servers["monolith"], "yemma") as monolith, connect(servers["new"], "app") as target:
        snapshots = {}
        for side, conn in (("source", monolith), ("target", target)):
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            snapshots[side] = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        # The new services start and write once the snapshots are held.
        with connect(servers["new"], "app") as service:
            service.execute("INSERT INTO users (name) VALUES ('first write on the new database')")
        figures, differences = verify.compare(psycopg, source, new, PLAN, 2, snapshots)
        assert differences == [] and {f["table"]: f["rows"] for f in figures}["public.users"] == 20100
    # Without the snapshots, the same comparison sees the new row.
    _figures, differences = verify.compare(psycopg, source, new, PLAN, 2)
    assert "public.users: 20100 rows in the source, 20101 in the target" in differences


def test_the_copy_is_removed_from_both_ends(servers):
    with connect(servers["monolith"], "yemma") as monolith, connect(servers["new"], "app") as target:
        assert reverse.unsubscribe(target, NAME, check_mode=False)
        assert not reverse.unpublish(monolith, NAME, check_mode=False, publication="no such publication")
        assert reverse.unpublish(monolith, NAME, check_mode=False, publication=NAME)
        assert monolith.execute("SELECT count(*) FROM pg_replication_slots").fetchone() == (0,)
        assert monolith.execute("SELECT count(*) FROM pg_publication").fetchone() == (0,)
        assert target.execute("SELECT count(*) FROM pg_subscription").fetchone() == (0,)
