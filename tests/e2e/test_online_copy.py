"""Online mode's core (module_utils/bulkcopy.py, online.py, and reverse.py used forward) on two
real PostgreSQL servers, for each pair of versions of the matrix (test_reverse_stream.VERSION_PAIRS):
a live "monolith" (wal_level = logical) publishes, a "new" server's database is copied from
a slot's snapshot while the monolith takes writes, then subscribes on that slot; then the switch (catch-up,
sequences, the copy removed from both ends, the reverse stream started), a schema change found,
and the proof on snapshots while the target is written to. No Ansible here: the playbooks' path
is test_online_mode.py's.
"""

import os
import threading
import time

import psycopg
import pytest

from ansible_collections.yemma.dbsplit.plugins.module_utils import audit, bulkcopy, online, reverse, verify
from ansible_collections.yemma.dbsplit.plugins.module_utils import target as marker
from test_reverse_stream import LOG_EVERY_STATEMENT, PASSWORD, VERSION_PAIRS, assert_password_unseen, connect, params, rows, run, start

MONOLITH, NEW = "dbsplit-test-online-monolith", "dbsplit-test-online-new"
SCHEMA = """
CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE events (user_id int, what text);
"""
# Created before the rows: the monolith's view is populated but stale (the services refresh it
# when they choose). The schema restore leaves the target's unpopulated (no MATERIALIZED VIEW
# DATA): the switch refreshes it from the copied rows.
# Its query names a column: PostgreSQL 16 and later print it without the table's name, and
# the proof still finds the two definitions equal across versions.
VIEW = "CREATE MATERIALIZED VIEW user_counts AS SELECT count(*) AS n, max(users.id) AS last_id FROM users"
ROWS = """
INSERT INTO users (name) SELECT 'user ' || i FROM generate_series(1, 20000) i;
INSERT INTO events SELECT i, 'login' FROM generate_series(1, 500) i;
"""
TABLES = ["public.users", "public.events"]
PLAN = {"key": "new/app", "database": "app", "label": "app", "tables": [{"name": t} for t in TABLES], "dropped_foreign_keys": [], "large_objects": None,
        "objects": {"users": {"class": "pg_class", "kind": "r", "identity": "public.users", "top_level": True,
                              "type": "table", "address": None},
                    "events": {"class": "pg_class", "kind": "r", "identity": "public.events", "top_level": True,
                               "type": "table", "address": None},
                    "seq": {"class": "pg_class", "kind": "S", "identity": "public.users_id_seq", "top_level": False,
                            "type": "sequence", "address": None},
                    "view": {"class": "pg_class", "kind": "m", "identity": "public.user_counts", "top_level": True,
                             "type": "materialized view", "address": ["materialized view", ["public", "user_counts"], []]}}}
NAME = online.stream_name("new/app", "app")
REVERSE = reverse.subscription_name("new/app", "app")


class Writer:
    """Inserts into ``table`` of a database, one row a statement, until stopped: a service's writes
    while verify.yml compares."""

    def __init__(self, host, database, table):
        self.host, self.database, self.table, self.rows = host, database, table, 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.write)

    def write(self):
        with connect(self.host, self.database) as conn:
            while not self.stopped.is_set():
                conn.execute(f"INSERT INTO {self.table} (name) VALUES ('written while compared')")
                self.rows += 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_exc):
        self.stopped.set()
        self.thread.join(timeout=60)


def assert_equal_at(point, source, targets, writer):
    """verify.yml's comparison at ``point`` while ``writer`` writes: no difference, every table
    compared or still being copied."""
    tables, differences, _waited, copying = audit.compare_at(psycopg, source, targets, 1, point, 60, sample_keys=5)
    assert differences == [] and writer.rows > 0, (differences, writer.rows)
    compared = {f["table"] for f in tables["new/app"]}
    assert compared | {item["table"] for item in copying} == set(TABLES) and not compared & {i["table"] for i in copying}
    return compared


@pytest.fixture(scope="module", params=VERSION_PAIRS, ids=lambda pair: f"{pair[0]}-to-{pair[1]}")
def servers(request):
    monolith_major, new_major = request.param
    try:
        monolith = start(MONOLITH, monolith_major, "-c", "wal_level=logical", *LOG_EVERY_STATEMENT)
        new = start(NEW, new_major, "-c", "wal_level=logical", *LOG_EVERY_STATEMENT)
        with connect(monolith, "postgres") as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
            conn.execute("CREATE DATABASE yemma")
        with connect(monolith, "yemma") as conn:
            conn.execute(SCHEMA + VIEW + ";" + ROWS)
        with connect(new, "postgres") as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
            conn.execute("CREATE DATABASE app")
        with connect(new, "app") as conn:
            conn.execute(SCHEMA + VIEW + " WITH NO DATA")  # what the transfer restores: the schema, no row
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

        # The copy (module_utils/bulkcopy.py) from a slot's snapshot while the old services
        # write: a row written around the snapshot is copied or streamed, never both, never neither.
        source, endpoint = params(servers["monolith"], "yemma"), params(servers["new"], "app")
        marker.set_marker(target, endpoint["tool_name"], "plan1", "backup1", "schema")
        pacer = bulkcopy.Pacer(psycopg, source, 0, 0)
        spec = [{"plan": PLAN, "endpoint": endpoint}]
        # Parts of 256 kB: users (about 1 MB) is copied in block ranges from PostgreSQL 14.
        planned = bulkcopy.copy_all(psycopg, source, spec, ["public.events"], 2, 256 << 10, pacer,
                                    bulkcopy.CopyProgress(None, pacer), check_mode=True)["new/app"]
        assert planned["action"] == "copy" and planned["tables"] == 2 and planned["rows"] == 0
        assert planned["parts"] > 2 if monolith.info.server_version >= 140000 else planned["parts"] == 2
        assert planned["format"] == ("binary" if monolith.info.server_version // 10000 == target.info.server_version // 10000
                                     else "text")
        assert monolith.execute("SELECT count(*) FROM pg_replication_slots").fetchone() == (0,)  # a check run creates nothing
        with Writer(servers["monolith"], "yemma", "users") as writer:
            time.sleep(0.2)
            copied = bulkcopy.copy_all(psycopg, source, spec, ["public.events"], 2, 256 << 10, pacer,
                                       bulkcopy.CopyProgress(None, pacer), check_mode=False)["new/app"]
        assert copied["action"] == "copy" and copied["rows"] >= 20500 and writer.rows > 0, (copied, writer.rows)
        assert marker.inspect(target, endpoint["tool_name"])["state"] == "copied"
        # A run again keeps a copied target.
        assert bulkcopy.copy_all(psycopg, source, spec, ["public.events"], 2, 256 << 10, pacer,
                                 bulkcopy.CopyProgress(None, pacer), check_mode=False)["new/app"]["action"] == "done"
        # Its indexes would be built here (restore part after_rows): this schema has them already.
        assert online.subscribe_problem(target, endpoint["tool_name"]).startswith("is copied: its rows are not copied")
        marker.set_marker(target, endpoint["tool_name"], "plan1", "backup1", "restored")
        assert online.subscribe_problem(target, endpoint["tool_name"]) is None
        connection = reverse.conninfo(source, PASSWORD, online.APPLICATION)
        assert reverse.subscribe(target, monolith, NAME, connection, check_mode=False, publication=NAME, on_slot=True)
        assert not reverse.subscribe(target, monolith, NAME, connection, check_mode=False, publication=NAME,
                                     on_slot=True)  # a run again finds it: the stream goes on

        # The old services write meanwhile: inserts, an update and a delete on the keyless table.
        monolith.execute("INSERT INTO users (name) SELECT 'late ' || i FROM generate_series(1, 100) i")
        monolith.execute("UPDATE events SET what = 'logout' WHERE user_id <= 10")
        monolith.execute("DELETE FROM events WHERE user_id > 490")
        monolith.execute("UPDATE users SET name = 'renamed' WHERE id = 7")

        progress = online.copy_progress(monolith, target, NAME, TABLES)
        assert progress["count"] == progress["copied"] == 2 and progress["bytes"] > 0
        line = online.progress_line("app", progress, reverse.status(target, monolith, NAME))
        assert line.startswith("app: 2/2 tables copied") and "streaming" in line

        # verify.yml during the copy, the old services writing: the monolith's snapshot, then the
        # target's once its copy applied up to it; a table still being copied is left out.
        with Writer(servers["monolith"], "yemma", "users") as writer:
            assert assert_equal_at("online_copy", source, spec, writer) == set(TABLES)
        monolith.execute("DELETE FROM users WHERE name = 'written while compared'")

    # The cutover: frozen (which ends every other session of the monolith), then switched. A
    # check run changes nothing.
    source, targets = params(servers["monolith"], "yemma"), [{"plan": PLAN, "endpoint": params(servers["new"], "app")}]
    assert online.freeze_monolith(psycopg, source, check_mode=True) == (True, 0)
    done, failures = online.switch(psycopg, source, targets, ["public.events"], True, 120, check_mode=True)
    assert failures == [] and done["app"]["removed"] and done["app"]["reverse_stream"], done
    with connect(servers["monolith"], "yemma") as monolith, connect(servers["new"], "app") as target:
        assert monolith.execute("SHOW default_transaction_read_only").fetchone() == ("off",)
        assert target.execute("SELECT count(*) FROM pg_subscription").fetchone() == (1,)
        assert monolith.execute("SELECT count(*) FROM pg_subscription").fetchone() == (0,)
        with connect(servers["monolith"], "yemma") as writer:
            # A session opened before the freeze is ended by it.
            assert online.freeze_monolith(psycopg, source, check_mode=False) == (True, 2)
            with pytest.raises(psycopg.OperationalError):
                writer.execute("INSERT INTO users (name) VALUES ('through the freeze')")
    assert online.freeze_monolith(psycopg, source, check_mode=False) == (False, 0)

    with connect(servers["monolith"], "yemma") as monolith, connect(servers["new"], "app") as target:
        assert monolith.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
        done, failures = online.switch(psycopg, source, targets, ["public.events"], True, 120, check_mode=False)
        assert failures == [] and done["app"]["removed"] and done["app"]["reverse_stream"], done
        assert done["app"]["sequences"][0]["sequence"] == "public.users_id_seq"
        assert list(done["app"]["seconds"]) == ["catch_up", "remove", "reverse_stream"], done  # where the downtime went
        for table in TABLES:
            assert rows(target, table) == rows(monolith, table), table
        assert len(rows(target, "public.users")) == 20100  # the writer's rows were deleted before the freeze
        # The view is refreshed from the copied rows; the monolith's is left as it was.
        assert done["app"]["refreshed_views"] == ["public.user_counts"]
        assert target.execute("SELECT n FROM user_counts").fetchone() == (20100,)
        assert monolith.execute("SELECT n FROM user_counts").fetchone() == (0,)
        assert reverse.carry_sequences(monolith, target, ["public.users_id_seq"], check_mode=True) == []
        # The online copy is gone from both ends, the reverse stream runs, the identity is back to default.
        assert target.execute("SELECT subname FROM pg_subscription").fetchall() == []
        assert monolith.execute("SELECT pubname FROM pg_publication").fetchall() == []
        assert monolith.execute("SELECT slot_name FROM pg_replication_slots").fetchall() == []
        assert monolith.execute("SELECT subname FROM pg_subscription").fetchall() == [(REVERSE,)]
        assert monolith.execute("SELECT relreplident FROM pg_class WHERE oid = 'events'::regclass").fetchone() == ("d",)
        assert target.execute("SELECT relreplident FROM pg_class WHERE oid = 'events'::regclass").fetchone() == ("f",)
        # A switch again finds it all done.
        done, failures = online.switch(psycopg, source, targets, ["public.events"], True, 120, check_mode=False)
        assert failures == [] and not done["app"]["removed"] and not done["app"]["reverse_stream"], done
    # Both subscriptions (the copy on the new server, the reverse stream on the monolith) carried it.
    assert_password_unseen(MONOLITH, servers["monolith"])
    assert_password_unseen(NEW, servers["new"])


def test_a_copy_that_fails_on_either_side_says_why_and_leaves_no_row_behind(servers):
    def stream(reading, writing, streamed=None):
        # Each part has its own sessions, closed after (a failed COPY leaves them mid-protocol).
        with connect(servers["monolith"], "yemma") as monolith, connect(servers["new"], "app") as target:
            return bulkcopy.stream(psycopg, monolith.pgconn, target.pgconn, reading, writing,
                                   (streamed if streamed is not None else []).append)

    with connect(servers["new"], "app") as target:
        target.execute("CREATE TABLE strict_users (id int CHECK (id <> 15000), name text)")
        try:
            # The row 15000 breaks the target's rule past the first chunk: the COPY is undone whole.
            with pytest.raises(bulkcopy.CopyError, match="writing: .*violates check constraint"):
                stream("COPY (SELECT id, name || repeat('x', 100) FROM users ORDER BY id) TO STDOUT",
                       "COPY strict_users FROM STDIN")
            assert target.execute("SELECT count(*) FROM strict_users").fetchone() == (0,)
            with pytest.raises(bulkcopy.CopyError, match='reading: .*"no_such_table"'):
                stream("COPY no_such_table TO STDOUT", "COPY strict_users FROM STDIN")
            with pytest.raises(bulkcopy.CopyError, match="writing: .*no_such_table"):
                stream("COPY users TO STDOUT", "COPY no_such_table FROM STDIN")
            streamed = []
            assert stream("COPY (SELECT id, name FROM users WHERE id < 15000) TO STDOUT", "COPY strict_users FROM STDIN",
                          streamed) == 14999
            assert sum(streamed) > 0 and target.execute("SELECT count(*) FROM strict_users").fetchone() == (14999,)
        finally:
            target.execute("DROP TABLE strict_users")


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


def test_the_proof_on_snapshots_compares_the_freeze_while_the_target_is_written_to(servers, tmp_path):
    source, new = params(servers["monolith"], "yemma"), params(servers["new"], "app")
    ready = str(tmp_path / "proof.ready")
    proof = {}
    prover = threading.Thread(target=lambda: proof.update(result=verify.prove_on_snapshots(
        psycopg, source, [{"plan": PLAN, "endpoint": new}], 1, ready)))
    prover.start()
    deadline = time.monotonic() + 60
    while not os.path.exists(ready):
        assert time.monotonic() < deadline and prover.is_alive(), "the proof never held its snapshots"
        time.sleep(0.05)
    # The new services start and write once the snapshots are held (the reverse stream brings it back).
    with connect(servers["new"], "app") as service:
        service.execute("INSERT INTO users (name) VALUES ('first write on the new database')")
    prover.join(timeout=120)
    tables, differences = proof["result"]
    assert differences == [] and {f["table"]: f["rows"] for f in tables["new/app"]}["public.users"] == 20100
    # Once the reverse stream brought the write to the monolith, a proof made now sees it on both sides.
    with connect(servers["monolith"], "yemma") as monolith, connect(servers["new"], "app") as target:
        reverse.wait_applied(monolith, target, REVERSE, timeout=60)
    tables, differences = verify.prove_on_snapshots(psycopg, source, [{"plan": PLAN, "endpoint": new}], 1, None)
    assert {f["table"]: f["rows"] for f in tables["new/app"]}["public.users"] == 20101
    # The view was refreshed at the switch, not since: its count is one behind the query's now.
    assert differences == ["app: public.user_counts: same row count (1) but different content"], differences
    # verify.yml while the new services write: each target's snapshot, then the monolith's once
    # the reverse stream applied up to it; the rows in flight are read again, and agree.
    with Writer(servers["new"], "app", "users") as writer:
        assert assert_equal_at("reverse_stream", source, [{"plan": PLAN, "endpoint": new}], writer) == set(TABLES)


def test_the_reverse_stream_is_removed_from_both_ends(servers):
    with connect(servers["monolith"], "yemma") as monolith, connect(servers["new"], "app") as target:
        assert reverse.unsubscribe(monolith, REVERSE, check_mode=False)
        assert not reverse.unpublish(target, REVERSE, check_mode=False, publication="no such publication")
        assert reverse.unpublish(target, REVERSE, check_mode=False)
        assert target.execute("SELECT count(*) FROM pg_replication_slots").fetchone() == (0,)
        assert target.execute("SELECT count(*) FROM pg_publication").fetchone() == (0,)
        assert monolith.execute("SELECT count(*) FROM pg_subscription").fetchone() == (0,)
