"""Names that need quoting, generated, through every path of the core on a real server.

Property-style: for each seed, a source database whose schemas, tables, columns, sequences,
types, functions, indexes, constraints, triggers and views have names drawn from what
breaks naive quoting (capitals, spaces, quotes, dots, " on ", reserved words, non-ASCII,
%, backslashes, 63-byte names...) goes through the planner (the map spells half the
tables raw, half as PostgreSQL prints them), a real pg_dump, the TOC selection read from
the archive, a real pg_restore --use-list into two target databases, the verify
comparison (rows, checksums, schema objects, sequences, enums, placed objects) and the
freeze's write signature. One PostgreSQL container for all seeds (a few seconds each), for
each version of the matrix (13, 15, 17: their catalogs record some dependencies apart);
the playbooks' own path over SSH is test_other_map.py's, on a platform named the same way.
"""

import os
import random
import subprocess

import psycopg
import pytest

from ansible_collections.yemma.dbsplit.plugins.module_utils import catalog, fingerprint, freeze, plan, toc, verify
from sandbox import run

CONTAINER = "dbsplit-test-any-schema"
VERSIONS = [13, 15, 17]
PASSWORD = "awkward-Names-pw-3"
SEEDS = [1, 2, 3, 4, 5]
TABLES_PER_SERVICE = 3
ROWS = 200

# Each piece breaks something: case folding, word splitting, quote doubling, a dot
# taken for a schema separator, " on " taken for a constraint's table, SQL keywords,
# multi-byte characters (and the 63-byte limit counted in bytes), % for format strings,
# a backslash, a pipe for markdown tables, a tab and a newline for line-based listings.
PIECES = ["Person", "Order Line", 'say "hi"', "o'brien", "a.b", "fk on x", "select", "user", "table",
          "café", "naïve", "日本", "Ærø", "100%", "back\\slash", "a|b", "tab\there", "new\nline", "1st",
          "MiXeD", "x", "end"]


def ident(name):
    return '"' + name.replace('"', '""') + '"'


def lit(text):
    return "'" + text.replace("'", "''") + "'"


def awkward(rng, used):
    """A fresh name of one to three pieces, at most 63 bytes (PostgreSQL's limit)."""
    while True:
        name = " ".join(rng.choice(PIECES) for _ in range(rng.randint(1, 3)))
        if rng.random() < 0.1:
            name = (name + " " + "é" * 40)
        name = name.encode()[:63].decode("utf-8", "ignore").strip() or "z"
        if name not in used:
            used.add(name)
            return name


def schema_sql(rng):
    """(DDL and data of the source, map {service: [table spellings]})."""
    used = set()
    sql, services = [], {}
    schema_names = [awkward(rng, used) for _ in range(2)]
    for schema in schema_names:
        sql.append(f"CREATE SCHEMA {ident(schema)};")
    enum_schema = rng.choice(schema_names)
    enum = f"{ident(enum_schema)}.{ident(awkward(rng, used))}"
    labels = [awkward(rng, used) for _ in range(3)]
    sql.append(f"CREATE TYPE {enum} AS ENUM ({', '.join(lit(label) for label in labels)});")
    touch = f"{ident(rng.choice(schema_names))}.{ident(awkward(rng, used))}"
    column = awkward(rng, used)
    sql.append(f"CREATE FUNCTION {touch}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
               f"NEW.{ident(column)} := upper(NEW.{ident(column)}); RETURN NEW; END $$;")
    first_of = {}
    for service in ("left", "right"):
        services[service] = []
        for number in range(TABLES_PER_SERVICE):
            schema = rng.choice(schema_names)
            name = awkward(rng, used)
            table = f"{ident(schema)}.{ident(name)}"
            id_column, kind_column = awkward(rng, used), awkward(rng, used)
            check, index, trigger = awkward(rng, used), awkward(rng, used), awkward(rng, used)
            refs = ""
            if number:  # a foreign key inside the service, and one across (left out by the plan)
                refs += f", parent bigint CONSTRAINT {ident(awkward(rng, used))} REFERENCES {first_of[service]}"
            if service == "right":
                refs += f", other bigint CONSTRAINT {ident(awkward(rng, used))} REFERENCES {first_of['left']}"
            sql.append(f"CREATE TABLE {table} ({ident(id_column)} bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
                       f"{ident(column)} text CONSTRAINT {ident(check)} CHECK (length({ident(column)}) < 100), "
                       f"{ident(kind_column)} {enum}{refs});")
            sql.append(f"CREATE INDEX {ident(index)} ON {table} ({ident(column)});")
            sql.append(f"CREATE TRIGGER {ident(trigger)} BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION {touch}();")
            sql.append(f"COMMENT ON TABLE {table} IS {lit('rows of ' + name)};")
            values = [f"{lit(name + ' #')} || i", f"{lit(labels[rng.randrange(3)])}::{enum}"]
            columns = [ident(column), ident(kind_column)]
            if number:
                columns.append("parent")
                values.append("1")
            if service == "right":
                columns.append("other")
                values.append("1")
            sql.append(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)} "
                       f"FROM generate_series(1, {ROWS}) AS i;")
            first_of.setdefault(service, table)
            # Half the map's entries raw (as a person types them), half as PostgreSQL prints them.
            services[service].append(f"{schema}.{name}" if number % 2 else table)
        view = f"{ident(rng.choice(schema_names))}.{ident(awkward(rng, used))}"
        sql.append(f"CREATE VIEW {view} AS SELECT count(*) AS {ident(awkward(rng, used))} FROM {first_of[service]};")
    return "\n".join(sql), services


def psql(database, sql):
    return run(["docker", "exec", "-i", CONTAINER, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", "postgres",
                "-d", database], input=sql, timeout=120)


@pytest.fixture(scope="module", params=VERSIONS, ids=lambda major: f"pg{major}")
def server(request):
    run(["docker", "rm", "--force", "--volumes", CONTAINER], check=False, timeout=60)
    run(["docker", "run", "-d", "--name", CONTAINER, "-e", f"POSTGRES_PASSWORD={PASSWORD}",
         f"local/yemma-postgres:{request.param}"], timeout=60)
    try:
        for _ in range(60):
            if run(["docker", "exec", CONTAINER, "pg_isready", "-q", "-h", "127.0.0.1"], check=False,
                   timeout=10).returncode == 0:
                break
            subprocess.run(["sleep", "1"], timeout=5)
        address = run(["docker", "inspect", "--format", "{{.NetworkSettings.IPAddress}}", CONTAINER],
                      timeout=30).stdout.strip()
        yield address
    finally:
        run(["docker", "rm", "--force", "--volumes", CONTAINER], check=False, timeout=60)


def split(source, result, tmp_path):
    """The transfer as the tool does it, by hand: a real pg_dump of ``source``, each plan
    target's selection of its TOC, a real pg_restore --use-list into a new database named
    after the target. Yields each target once it is restored."""
    run(["docker", "exec", CONTAINER, "pg_dump", "-U", "postgres", "-d", source, "-Fc", "-f", "/tmp/source.dump"],
        timeout=120)
    archive = os.path.join(tmp_path, "source.dump")
    run(["docker", "cp", f"{CONTAINER}:/tmp/source.dump", archive], timeout=60)
    database, entries = toc.read_toc(archive)
    assert database == source
    for target in result["targets"]:
        listing, count = toc.filter_entries(entries, target["objects"])
        assert count > 0
        list_file = os.path.join(tmp_path, "target.list")
        with open(list_file, "w") as stream:
            stream.write(listing)
        run(["docker", "cp", list_file, f"{CONTAINER}:/tmp/target.list"], timeout=60)
        psql("postgres", f"CREATE DATABASE {target['database']};")
        run(["docker", "exec", CONTAINER, "pg_restore", "-U", "postgres", "-d", target["database"], "--exit-on-error",
             "--no-owner", "--use-list", "/tmp/target.list", "/tmp/source.dump"], timeout=300)
        yield target


def params(address, database):
    return {"login_host": address, "login_port": 5432, "login_user": "postgres", "login_password": PASSWORD,
            "db": database, "tool_name": "yemma-dbsplit"}


@pytest.mark.parametrize("seed", SEEDS)
def test_awkward_names_go_through_plan_toc_restore_verify_and_freeze(server, seed, tmp_path):
    rng = random.Random(seed)
    source = f"source_{seed}"
    ddl, table_map = schema_sql(rng)
    psql("postgres", f"CREATE DATABASE {source};")
    psql(source, ddl)
    services = {service: {"tables": tables, "endpoint": {"container": CONTAINER, "database": f"{service}_{seed}"}}
                for service, tables in table_map.items()}
    with psycopg.connect(**_kwargs(server, source)) as conn:
        snapshot = catalog.read_catalog(conn)
    result = plan.build_plan(snapshot, services)
    assert result["problems"] == []
    assert sum(len(t["tables"]) for t in result["targets"]) == 2 * TABLES_PER_SERVICE
    # The two views go with the one service each reads; the trigger function and the enum go
    # wherever a table needs them (both targets).
    views = [o for o in result["objects"] if o["object"].startswith("view ")]
    assert sorted(tuple(o["targets"]) for o in views) == [(f"left_{seed}",), (f"right_{seed}",)], views

    for target in split(source, result, tmp_path):
        proven, differences = verify.compare(psycopg, params(server, source),
                                             [{"plan": target, "endpoint": params(server, target["database"])}], jobs=2)
        assert differences == []
        figures = proven[target["key"]]
        assert {f["table"] for f in figures} == {t["name"] for t in target["tables"]}
        assert all(f["rows"] == ROWS for f in figures)
        # Every identity sequence continues after the copied ids (verify compared them too).
        with psycopg.connect(**_kwargs(server, target["database"])) as conn:
            for sequence in verify.planned_relations(target)[2]:
                assert fingerprint.sequence_state(conn, sequence) == {"last_value": str(ROWS), "is_called": True}
            # The placed view is there, found by its address, defined as in the source.
            views = [o for o in target["objects"].values() if o["type"] == "view"]
            assert len(views) == 1 and fingerprint.object_definition(psycopg, conn, views[0]["address"])

    # The freeze's write signature names the tables as the plan does.
    with psycopg.connect(**_kwargs(server, source)) as conn:
        signature = freeze.write_signature(conn)
    assert set(signature) == {t["name"] for target in result["targets"] for t in target["tables"]}


def _kwargs(address, database):
    return {"host": address, "user": "postgres", "password": PASSWORD, "dbname": database, "autocommit": True}


# Every kind of object an operator creates, and the fate each should get.
OBJECTS_SQL = r"""
CREATE EXTENSION citext;                      -- a column's type: goes where that table goes
CREATE EXTENSION pg_trgm;                     -- used by no table: the map places it
CREATE SCHEMA reporting;                      -- holds only a view that stays: stays with it
CREATE SEQUENCE public.order_no;              -- stand-alone, used by a default: goes with it
CREATE SEQUENCE public.spare_no;              -- stand-alone, unused: the map places it
CREATE DOMAIN public.email AS citext CHECK (VALUE LIKE '%@%');
CREATE DOMAIN public.unused_domain AS int CHECK (VALUE > 0);
CREATE TYPE public.pair AS (a int, b int);    -- a composite nobody uses: the map places it
CREATE FUNCTION public.order_label(n bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'O-' || n $$;
CREATE FUNCTION public."Slug"(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT lower(t) $$;
-- a generated column's function: goes with its table (13 records it on the column, 15 on its default)
CREATE FUNCTION public.cents(n int) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$ SELECT n::bigint * 100 $$;
CREATE PROCEDURE public.purge() LANGUAGE sql AS $$ SELECT 1 $$;
CREATE AGGREGATE public.total(int) (sfunc = int4pl, stype = int, initcond = '0');  -- the matview's
CREATE TABLE public.orders (id bigint PRIMARY KEY DEFAULT nextval('public.order_no'), label text
                            DEFAULT public.order_label(currval('public.order_no')), amount int NOT NULL,
                            cents bigint GENERATED ALWAYS AS (public.cents(amount)) STORED);
CREATE TABLE public.customers (id serial PRIMARY KEY, email public.email NOT NULL);
CREATE TABLE public.legacy (id int PRIMARY KEY);
ALTER TABLE public.customers ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON public.customers USING (true);
CREATE RULE no_delete AS ON DELETE TO public.orders DO INSTEAD NOTHING;
CREATE VIEW public."Big Orders" AS SELECT * FROM public.orders WHERE amount > 50;
COMMENT ON VIEW public."Big Orders" IS 'orders over 50';
CREATE MATERIALIZED VIEW public.order_totals AS SELECT public.total(amount) AS total, count(*) AS n FROM public.orders;
CREATE VIEW reporting.orders_by_customer AS SELECT c.email, o.amount FROM public.customers c, public.orders o;
CREATE VIEW public.legacy_ids AS SELECT id FROM public.legacy;
CREATE PUBLICATION orders_feed FOR TABLE public.orders;
CREATE PUBLICATION everything FOR ALL TABLES;
CREATE FUNCTION public.ddl_log() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'ddl'; END $$;
CREATE EVENT TRIGGER log_ddl ON ddl_command_end EXECUTE FUNCTION public.ddl_log();
INSERT INTO public.orders (amount) SELECT g % 100 FROM generate_series(1, 300) g;
INSERT INTO public.customers (email) SELECT 'c' || g || '@x' FROM generate_series(1, 40) g;
INSERT INTO public.legacy SELECT generate_series(1, 5);
REFRESH MATERIALIZED VIEW public.order_totals;
"""
PLACED = {"orders": ['function public."Slug"(pg_catalog.text)', "extension pg_trgm"],
          "customers": ['function public."Slug"(pg_catalog.text)', "sequence public.spare_no", "type public.pair"]}
LEFT_BEHIND = ["view reporting.orders_by_customer", "procedure public.purge()", "type public.unused_domain",
               "publication everything", "event trigger log_ddl", "function public.ddl_log()"]


def test_every_object_gets_a_fate_or_the_plan_says_which_line_settles_it(server, tmp_path):
    psql("postgres", "CREATE DATABASE objects_source;")
    psql("objects_source", OBJECTS_SQL)
    with psycopg.connect(**_kwargs(server, "objects_source")) as conn:
        snapshot = catalog.read_catalog(conn)

    def services(placed):
        return {name: {"tables": [f"public.{name}"], "objects": placed.get(name, []),
                       "endpoint": {"container": CONTAINER, "database": f"objects_{name}"}}
                for name in ("orders", "customers")}

    # Unmapped: each object without a fate is a problem that names it and the line to add.
    bare = plan.build_plan(snapshot, services({}), ["public.legacy"])
    unsettled = sorted(p.split(" depends on", 1)[0].split(" reads tables", 1)[0] for p in bare["problems"])
    assert unsettled == sorted(set(PLACED["orders"] + PLACED["customers"]) | set(LEFT_BEHIND))
    cross = next(p for p in bare["problems"] if p.startswith("view reporting.orders_by_customer"))
    assert "public.customers (customers in objects_customers); public.orders (orders in objects_orders)" in cross
    assert "dbsplit_objects_left_behind: ['view reporting.orders_by_customer']" in cross
    slug = next(p for p in bare["problems"] if p.startswith('function public."Slug"'))
    assert "objects: ['function public.\"Slug\"(pg_catalog.text)'] under the service" in slug
    # A view joining two services cannot be placed with either.
    wrong = plan.build_plan(snapshot, services({"orders": ["view reporting.orders_by_customer"]}), ["public.legacy"])
    assert any(p.startswith("view reporting.orders_by_customer is placed in objects_orders but depends on "
                            "public.customers") for p in wrong["problems"])

    # A stand-alone sequence copied into both databases would hand out the same ids twice.
    shared = plan.build_plan(snapshot, services(dict(PLACED, customers=PLACED["customers"] + ["sequence public.order_no"])),
                             ["public.legacy"], objects_left_behind=LEFT_BEHIND)
    assert [p for p in shared["problems"] if p.startswith("sequence public.order_no would be in objects_customers, "
                                                          "objects_orders") and "give it one owner" in p], shared["problems"]

    result = plan.build_plan(snapshot, services(PLACED), ["public.legacy"], objects_left_behind=LEFT_BEHIND)
    assert result["problems"] == []
    fates = {o["object"]: (o["targets"], o["fate"]) for o in result["objects"]}
    assert fates['view public."Big Orders"'] == (["objects_orders"], "reads tables of orders only")
    assert fates["materialized view public.order_totals"][0] == ["objects_orders"]
    assert fates["publication orders_feed"][0] == ["objects_orders"]
    assert fates["sequence public.order_no"][0] == ["objects_orders"]
    assert fates["aggregate public.total(integer)"][0] == ["objects_orders"]
    assert fates["function public.cents(integer)"][0] == ["objects_orders"]
    assert fates["extension citext"][0] == ["objects_customers"]
    assert fates['function public."Slug"(pg_catalog.text)'] == (["objects_customers", "objects_orders"],
                                                                 "placed by the map")
    assert fates["view public.legacy_ids"] == ([], "reads only tables left behind (public.legacy)")
    assert fates["schema reporting"] == ([], "none of the objects in it is migrated")
    assert fates["event trigger log_ddl"] == ([], "declared in dbsplit_objects_left_behind")

    for target in split("objects_source", result, tmp_path):
        _proven, differences = verify.compare(psycopg, params(server, "objects_source"),
                                              [{"plan": target, "endpoint": params(server, target["database"])}], jobs=2)
        assert differences == []
        placed = {name for name, _address in verify.placed_objects(target)}
        assert {name for name, (targets, _fate) in fates.items() if target["database"] in targets} <= placed
    with psycopg.connect(**_kwargs(server, "objects_orders")) as conn:
        assert conn.execute("SELECT n FROM public.order_totals").fetchone()[0] == 300
        assert conn.execute("SELECT obj_description('public.\"Big Orders\"'::regclass)").fetchone()[0] == \
            "orders over 50"
        assert conn.execute("SELECT nextval('public.order_no')").fetchone()[0] == 301
        assert conn.execute("SELECT to_regclass('reporting.orders_by_customer')").fetchone()[0] is None
    with psycopg.connect(**_kwargs(server, "objects_customers")) as conn:
        assert conn.execute("SELECT count(*) FROM pg_policy WHERE polname = 'own_rows'").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM pg_publication").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM pg_event_trigger").fetchone()[0] == 0
    # And verify sees a placed object that is missing or was defined otherwise.
    psql("objects_orders", 'CREATE OR REPLACE VIEW public."Big Orders" AS SELECT * FROM public.orders WHERE amount > 60;'
                           'DROP FUNCTION public."Slug"(text);')
    orders = next(t for t in result["targets"] if t["database"] == "objects_orders")
    _proven, differences = verify.compare(psycopg, params(server, "objects_source"),
                                          [{"plan": orders, "endpoint": params(server, "objects_orders")}], jobs=2)
    assert f'{orders["label"]}: function public."Slug"(pg_catalog.text) is missing' in differences
    assert any(d.startswith(f'{orders["label"]}: view public."Big Orders" differs') and "60" in d for d in differences), differences
