"""Which rows differ (module_utils/diff.py) on real servers: a target with rows deleted, added
and changed in a table with a primary key, one with a composite key, one with only a unique
index on NOT NULL columns, one without a key (duplicates included) and a partitioned table,
each named by its key (or ctid), counted exactly, up to the sample asked for; and the proof
(verify.compare) carrying those names into its differences. One container per version of the
matrix's ends, two databases in it."""

import psycopg
import pytest

from ansible_collections.yemma.dbsplit.plugins.module_utils import pgconn, verify
from test_reverse_stream import params, start
from sandbox import run

SERVER = "dbsplit-test-rows-differ"

SCHEMA = """
CREATE TYPE status AS ENUM ('new', 'paid');
CREATE TABLE payments (id int PRIMARY KEY, amount numeric(10, 2), status status, note text);
CREATE TABLE memberships (tenant_id int, user_id int, role text, PRIMARY KEY (tenant_id, user_id));
CREATE TABLE invoices (number text NOT NULL, total int);
CREATE UNIQUE INDEX invoices_number ON invoices (number);
CREATE TABLE events (kind text, n int);
CREATE TABLE orders (id int, region text, total int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE orders_eu PARTITION OF orders FOR VALUES IN ('eu');
CREATE TABLE orders_us PARTITION OF orders FOR VALUES IN ('us');
INSERT INTO payments SELECT g, g * 1.5, 'paid', 'note ' || g FROM generate_series(1, 20000) AS g;
INSERT INTO memberships SELECT g % 50, g, 'member' FROM generate_series(1, 5000) AS g;
INSERT INTO invoices SELECT 'INV-' || g, g FROM generate_series(1, 3000) AS g;
INSERT INTO events SELECT 'click', g % 10 FROM generate_series(1, 4000) AS g;
INSERT INTO orders SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, g FROM generate_series(1, 6000) AS g;
"""

# What the target lost, gained and had changed, per table.
DAMAGE = """
DELETE FROM payments WHERE id IN (7, 9000, 19999);
INSERT INTO payments VALUES (20001, 1, 'new', 'extra'), (20002, 2, 'new', 'extra');
UPDATE payments SET amount = amount + 1 WHERE id IN (1, 500, 10000);
UPDATE payments SET status = 'new' WHERE id = 12345;
DELETE FROM memberships WHERE (tenant_id, user_id) = (3, 53);
INSERT INTO memberships VALUES (49, 99999, 'owner');
UPDATE memberships SET role = 'admin' WHERE (tenant_id, user_id) IN ((1, 1), (0, 4950));
DELETE FROM invoices WHERE number = 'INV-42';
UPDATE invoices SET total = -1 WHERE number = 'INV-7';
DELETE FROM events WHERE ctid = (SELECT ctid FROM events WHERE kind = 'click' AND n = 3 LIMIT 1);
INSERT INTO events VALUES ('view', 1), ('view', 1);
UPDATE events SET n = 11 WHERE ctid = (SELECT ctid FROM events WHERE n = 5 LIMIT 1);
DELETE FROM orders WHERE id IN (10, 11);
UPDATE orders SET total = 0 WHERE id = 20;
INSERT INTO orders VALUES (7001, 'us', 1);
"""


@pytest.fixture(scope="module", params=[13, 17], ids=lambda major: f"pg{major}")
def server(request):
    """A source database and its copy with DAMAGE done to it."""
    try:
        host = start(SERVER, request.param)
        with pgconn.connect(psycopg, params(host, "postgres")) as admin:
            admin.execute("CREATE DATABASE source_db")
        with pgconn.connect(psycopg, params(host, "source_db")) as source:
            source.execute(SCHEMA)
        with pgconn.connect(psycopg, params(host, "postgres")) as admin:
            admin.execute("CREATE DATABASE target_db TEMPLATE source_db")
        with pgconn.connect(psycopg, params(host, "target_db")) as target:
            target.execute(DAMAGE)
        yield host
    finally:
        run(["docker", "rm", "--force", "--volumes", SERVER], check=False, timeout=60)


def localise(host, table, sample=20):
    return verify.localise_table(psycopg, params(host, "source_db"), params(host, "target_db"), {}, table, 20002, sample)


def test_a_table_with_a_primary_key_names_each_missing_extra_and_changed_row(server):
    found = localise(server, "public.payments")
    assert found["key"] == ["id"] and found["counts"] == {"missing": 3, "extra": 2, "different": 4}
    assert found["keys"] == {"missing": ["(id)=(19999)", "(id)=(7)", "(id)=(9000)"],  # byte order of the key's text
                             "extra": ["(id)=(20001)", "(id)=(20002)"],
                             "different": ["(id)=(1)", "(id)=(10000)", "(id)=(12345)", "(id)=(500)"]}
    assert 0 < found["differing_buckets"] <= 9 < found["buckets"]


def test_a_composite_key_and_a_unique_index_on_not_null_columns_name_their_rows(server):
    found = localise(server, "public.memberships")
    assert found["key"] == ["tenant_id", "user_id"]
    assert found["counts"] == {"missing": 1, "extra": 1, "different": 2}
    assert found["keys"] == {"missing": ["(tenant_id, user_id)=(3,53)"], "extra": ["(tenant_id, user_id)=(49,99999)"],
                             "different": ["(tenant_id, user_id)=(0,4950)", "(tenant_id, user_id)=(1,1)"]}
    found = localise(server, "public.invoices")
    assert found["key"] == ["number"] and found["counts"] == {"missing": 1, "extra": 0, "different": 1}
    assert found["keys"]["missing"] == ["(number)=(INV-42)"] and found["keys"]["different"] == ["(number)=(INV-7)"]


def test_a_table_without_a_key_is_compared_as_a_multiset_and_names_rows_by_ctid_only(server):
    found = localise(server, "public.events")
    assert found["key"] is None
    # One of 400 equal ('click', 3) rows gone, ('click', 5) changed into ('click', 11): a changed
    # row is one missing and one extra; two equal rows added are two extra.
    assert found["counts"] == {"missing": 2, "extra": 3, "different": 0}
    assert all(name.startswith("source ctid (") for name in found["keys"]["missing"])
    assert all(name.startswith("target ctid (") for name in found["keys"]["extra"])
    with pgconn.connect(psycopg, params(server, "target_db")) as target:
        named = [target.execute(f"SELECT kind, n FROM events WHERE ctid = '{name.split()[-1]}'").fetchone()
                 for name in found["keys"]["extra"]]
    assert sorted(named) == [("click", 11), ("view", 1), ("view", 1)]
    for name in found["keys"]["missing"] + found["keys"]["extra"]:
        assert "click" not in name and "view" not in name  # a key-less row is never shown by its columns


def test_a_partitioned_table_is_localised_partition_by_partition(server):
    eu, us = localise(server, "public.orders_eu"), localise(server, "public.orders_us")
    assert eu["key"] == ["id", "region"] and us["key"] == ["id", "region"]
    assert eu["counts"] == {"missing": 1, "extra": 0, "different": 1}
    assert eu["keys"] == {"missing": ["(id, region)=(10,eu)"], "extra": [], "different": ["(id, region)=(20,eu)"]}
    assert us["counts"] == {"missing": 1, "extra": 1, "different": 0}
    assert us["keys"] == {"missing": ["(id, region)=(11,us)"], "extra": ["(id, region)=(7001,us)"], "different": []}


def test_the_counts_stay_exact_when_fewer_keys_are_shown(server):
    with pgconn.connect(psycopg, params(server, "target_db")) as target:
        target.execute("UPDATE payments SET note = 'changed' WHERE id BETWEEN 15001 AND 15250")
    try:
        found = localise(server, "public.payments", sample=5)
        assert found["counts"] == {"missing": 3, "extra": 2, "different": 254}
        assert [len(keys) for keys in found["keys"].values()] == [3, 2, 5]
        assert found["keys"]["different"] == ["(id)=(1)", "(id)=(10000)", "(id)=(12345)", "(id)=(15001)", "(id)=(15002)"]
    finally:
        with pgconn.connect(psycopg, params(server, "target_db")) as target:
            target.execute("UPDATE payments SET note = 'note ' || id WHERE id BETWEEN 15001 AND 15250")


def test_the_proof_names_the_differing_keys_of_each_table_that_differs(server):
    plan = {"key": "target", "label": "target_db", "dropped_foreign_keys": [], "large_objects": None, "objects": {
        name: {"class": "pg_class", "kind": kind, "identity": name, "top_level": False, "type": "table"}
        for name, kind in (("public.payments", "r"), ("public.invoices", "r"), ("public.orders", "p"),
                           ("public.orders_eu", "r"), ("public.orders_us", "r"))}}
    targets = [{"plan": plan, "endpoint": params(server, "target_db")}]
    proven, differences = verify.compare(psycopg, params(server, "source_db"), targets, 2, sample_keys=2)
    assert differences == [
        "target_db: public.invoices: 3000 rows in the source, 2999 in the target; rows by key (number): 1 missing, "
        "1 different; missing: (number)=(INV-42); different: (number)=(INV-7)",
        "target_db: public.orders_eu: 3000 rows in the source, 2999 in the target; rows by key (id, region): "
        "1 missing, 1 different; missing: (id, region)=(10,eu); different: (id, region)=(20,eu)",
        "target_db: public.orders_us: same row count (3000) but different content; rows by key (id, region): "
        "1 missing, 1 extra; missing: (id, region)=(11,us); extra: (id, region)=(7001,us)",
        "target_db: public.payments: 20000 rows in the source, 19999 in the target; rows by key (id): 3 missing, "
        "2 extra, 4 different; missing: (id)=(19999), (id)=(7) ...; extra: (id)=(20001), (id)=(20002); "
        "different: (id)=(1), (id)=(10000) ...",
    ]
    figures = {table["table"]: table for table in proven["target"]}
    assert figures["public.payments"]["rows_differing"]["counts"] == {"missing": 3, "extra": 2, "different": 4}
    assert set(figures) == {"public.payments", "public.invoices", "public.orders_eu", "public.orders_us"}
