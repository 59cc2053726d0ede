"""A platform that is not yemma, migrated with only a different map: the map is data.

"shop" (tests/e2e/shop) has its own compose project, network, container names, .env
keys, non-public schemas, identity columns, a domain, a trigger, pg_trgm, a foreign key
across the split, a table left behind, views, a materialized view, functions, a sequence no
column owns, a view joining both services, and names that all need quoting; both new
databases are named shop, on two servers. Its whole description is
tests/e2e/shop/inventory/group_vars/shop.yml; no code knows about it.
"""

import json
import os
import shutil

import pytest

from sandbox import ROOT, ansible_playbook, assert_secret_kept, psql, run, table_digests

SHOP = os.path.join(ROOT, "tests", "e2e", "shop")
PROJECT_DIR = "/srv/shop"
STATE_DIR = "/var/backups/shop-dbsplit"
# The project's defaults (group_vars/, beside inventory-defaults.yml), then the shop's own map.
INVENTORY = os.path.join(SHOP, "inventory", "hosts.yml")
INVENTORIES = ["-i", "inventory-defaults.yml", "-i", INVENTORY, "-l", "shop"]
CATALOG = ['"Catalog"."Categories"', '"Catalog"."Products"', '"Catalog"."Product Categories"',
           '"Catalog"."Product Images"']
# Count and content of every large object, by oid.
LARGE_OBJECTS_SQL = ("SELECT count(*), md5(string_agg(oid || ':' || md5(lo_get(oid)), ',' ORDER BY oid)) "
                     "FROM pg_largeobject_metadata")
SALES = ['"Sales & Returns"."Customers"', '"Sales & Returns"."Orders"', '"Sales & Returns"."Order Lines"']
# The two new databases: both named shop, each on its own server.
CATALOG_DB = ("shop-postgres-catalog", "shop")
SALES_DB = ("shop-postgres-sales", "shop")
ENV = "SHOP_DB_USER=shop_admin\nSHOP_DB_PASSWORD=shop-Sandbox-pw-7\n"


def compose(file, *args):
    return run(["docker", "compose", "-p", "shop", "-f", os.path.join(PROJECT_DIR, file), *args])


def teardown():
    for name in ["docker-compose.yml", "docker-compose.monolith.yml"]:
        if os.path.exists(os.path.join(PROJECT_DIR, name)):
            compose(name, "down", "-v", "--remove-orphans", "--timeout", "5")
    # A failed Option A run keeps its scratch source server for the next run: not here.
    run(["docker", "rm", "--force", "--volumes", "shop-dbsplit-source"], check=False)
    run(["docker", "network", "rm", "shop-network"], check=False)
    shutil.rmtree(PROJECT_DIR, ignore_errors=True)
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    if os.path.exists(STATE_DIR + ".lock"):
        os.remove(STATE_DIR + ".lock")


@pytest.fixture(scope="module")
def shop():
    teardown()
    os.makedirs(PROJECT_DIR)
    for name in ["docker-compose.yml", "docker-compose.monolith.yml"]:
        shutil.copy(os.path.join(SHOP, name), PROJECT_DIR)
    with open(os.path.join(PROJECT_DIR, ".env"), "w") as env:
        env.write(ENV)
    run(["docker", "network", "create", "shop-network"])
    compose("docker-compose.monolith.yml", "up", "-d", "--wait")
    with open(os.path.join(SHOP, "schema.sql")) as schema:
        run(["docker", "exec", "-i", "shop-postgres", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
             "-U", "shop_admin", "-d", "shop_db"], input=schema.read())
    yield
    teardown()


def pg(container, database, sql):
    out = run(["docker", "exec", container, "psql", "-X", "-v", "ON_ERROR_STOP=1", "-U", "shop_admin",
               "-d", database, "-At", "-F", "\t", "-c", sql]).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def test_another_schema_and_map_migrate_with_no_code_change(shop, monkeypatch):
    monkeypatch.setattr("sandbox.psql", pg)  # shop's role is not "postgres"
    # Large objects belong to no table: with nobody named to own them, the run refuses before any change.
    unowned = ansible_playbook("migrate.yml", *INVENTORIES, "-e", '{"dbsplit_large_objects_service": null}')
    said = " ".join(unowned.stdout.split())
    assert unowned.returncode != 0 and "the source holds 21 large objects" in said, said[-3000:]
    assert "set dbsplit_large_objects_service to the service that owns them" in said and "nothing was changed" in said
    assert not os.path.exists(STATE_DIR)
    # At -vvv: the password must not reach the output, the state or the reports at any verbosity.
    result = ansible_playbook("migrate.yml", *INVENTORIES, "-vvv")
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-3000:]
    assert_secret_kept(b"shop-Sandbox-pw-7", result, STATE_DIR)
    said = " ".join(result.stdout.split())
    assert ('drops foreign key Order Lines -> Products on "Sales & Returns"."Order Lines" -> "Catalog"."Products"'
            in said)
    # Every object that is not a table, with its fate, in the plan the operator reads.
    for line in ('view "Catalog"."Listed Products" -> shop on shop-postgres-catalog: reads tables of catalog only',
                 'materialized view "Sales & Returns"."Daily Sales" -> shop on shop-postgres-sales: reads tables of sales only',
                 'function public."Slugify"(pg_catalog.text) -> shop on shop-postgres-catalog, shop on shop-postgres-sales: '
                 'placed by the map',
                 'view "Reporting"."Order Lines With Products" -> left behind: declared in dbsplit_objects_left_behind',
                 'schema "Reporting" -> left behind: none of the objects in it is migrated'):
        assert line in said, line

    source = table_digests("shop-postgres", "shop_db", CATALOG + SALES, excluded={})
    assert table_digests(*CATALOG_DB, CATALOG, excluded={}) == {t: source[t] for t in CATALOG}
    assert table_digests(*SALES_DB, SALES, excluded={}) == {t: source[t] for t in SALES}
    assert source['"Sales & Returns"."Order Lines"'][0] == 24000
    # The pictures came with the catalog, content and all, and nowhere else.
    pictures = pg("shop-postgres", "shop_db", LARGE_OBJECTS_SQL)
    assert pictures[0][0] == "21"
    assert pg(*CATALOG_DB, LARGE_OBJECTS_SQL) == pictures
    assert pg(*SALES_DB, "SELECT count(*) FROM pg_largeobject_metadata") == [["0"]]

    # What pg_dump -t would have left out came along: enum, domain, trigger function, extension.
    assert pg(*CATALOG_DB, "SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'") == [["1"]]
    assert pg(*CATALOG_DB, """SELECT '"Catalog"."Price"'::regtype, '"Catalog"."Product State"'::regtype""") == \
        [['"Catalog"."Price"', '"Catalog"."Product State"']]
    assert pg(*SALES_DB, """SELECT tgname FROM pg_trigger WHERE tgrelid = '"Sales & Returns"."Orders"'::regclass
                            AND NOT tgisinternal""") == [["Orders: touch"]]
    # Ids continue after the migrated ones (identity, serial, and the sequence no column owns).
    assert pg(*CATALOG_DB, """INSERT INTO "Catalog"."Products" ("SKU", "Name", "Price")
                              VALUES ('new', 'new', 1) RETURNING "Id" """)[0] == ["3001"]
    assert pg(*SALES_DB, """INSERT INTO "Sales & Returns"."Orders" ("Customer Id") VALUES (1) RETURNING "Id" """)[0] == \
        ["8001"]
    assert pg(*SALES_DB, """SELECT nextval('"Sales & Returns"."Invoice No"')""") == [["1235"]]
    # The views and functions went where their fates said, with their rows and comments.
    assert pg(*CATALOG_DB, """SELECT count(*), obj_description('"Catalog"."Listed Products"'::regclass)
                              FROM "Catalog"."Listed Products" """) == [["1000", "what the storefront shows"]]
    assert pg(*SALES_DB, """SELECT sum("Orders") FROM "Sales & Returns"."Daily Sales" """) == [["8000"]]
    assert pg(*SALES_DB, """SELECT "Sales & Returns"."Order Total"(1), public."Slugify"('A b')""") == [["9", "a-b"]]
    assert pg(*CATALOG_DB, """SELECT public."Slugify"('C d'), to_regprocedure('"Sales & Returns"."Order Total"(integer)')
                              IS NULL""") == [["c-d", "t"]]
    for database in (CATALOG_DB, SALES_DB):
        assert pg(*database, """SELECT to_regnamespace('"Reporting"') IS NULL""") == [["t"]]
    # The table left behind stays in shop_db only; the cross-split key is gone from sales' database.
    assert pg(*SALES_DB, """SELECT to_regclass('public."Legacy Sessions"') IS NULL,
                            count(*) FROM pg_constraint WHERE conname = 'Order Lines -> Products'""") == [["t", "0"]]

    report_dirs = [d for d in os.listdir(os.path.join(ROOT, "reports")) if "-shop-host-" in d]
    with open(os.path.join(ROOT, "reports", max(report_dirs), "report.json")) as stream:
        report = json.load(stream)
    assert report["status"] == "migrated and verified"
    assert report["left_behind"] == ['public."Legacy Sessions"']
    assert {(t["key"], t["label"]) for t in report["targets"]} == {
        ("shop-postgres-catalog/shop", "shop on shop-postgres-catalog"),
        ("shop-postgres-sales/shop", "shop on shop-postgres-sales")}
    assert [(lo["database"], lo["count"]) for lo in report["large_objects"]] == [("shop on shop-postgres-catalog", 21)]
    assert {o["object"]: o["targets"] for o in report["objects"]}['view "Catalog"."Listed Products"'] == \
        ["shop on shop-postgres-catalog"]
    # Every table of shop_db (8, the one left behind included) and its materialized view proven
    # unwritten since the backup.
    assert int(report["completed"]["freeze_held_tables"]) == 9


def test_a_dump_file_is_a_source_too_option_a(shop, monkeypatch):
    """Runbook Option A: the monolith's server is gone, only its pg_dump archive is left."""
    monkeypatch.setattr("sandbox.psql", pg)
    expected = table_digests("shop-postgres", "shop_db", CATALOG + SALES, excluded={})
    # As the runbook takes it: pg_dump -F c inside the old container, copied out.
    run(["docker", "exec", "shop-postgres", "pg_dump", "-U", "shop_admin", "-d", "shop_db", "-F", "c",
         "-f", "/tmp/shop_full.dump"])
    run(["docker", "cp", "shop-postgres:/tmp/shop_full.dump", f"{PROJECT_DIR}/shop_full.dump"])
    # Start over from empty targets, with the old server stopped.
    compose("docker-compose.yml", "down", "-v", "--timeout", "5")
    shutil.rmtree(STATE_DIR)
    compose("docker-compose.monolith.yml", "stop", "postgres")

    dump_source = os.path.join(SHOP, "dump-source.yml")
    missing = ansible_playbook("migrate.yml", *INVENTORIES, "-e", f"@{dump_source}",
                               "-e", '{"dbsplit_source": {"dump_file": "/srv/shop/nope.dump", "database": "shop_db", '
                                     '"tools_image": "local/yemma-postgres:15", "scratch_container": "shop-dbsplit-source"}}')
    assert missing.returncode != 0
    assert "dump file /srv/shop/nope.dump not found on the host" in missing.stdout
    assert "nothing was changed" in missing.stdout and not os.path.exists(STATE_DIR)
    assert not os.path.exists(STATE_DIR + ".lock")  # a failed run releases its lock
    check = ansible_playbook("migrate.yml", *INVENTORIES, "-e", f"@{dump_source}", "--check")
    assert check.returncode == 0, check.stdout[-8000:] + check.stderr[-3000:]
    assert "shop on shop-postgres-catalog <- catalog" in check.stdout and "checked, nothing changed" in check.stdout
    # The scratch server the check read the archive through is gone; no target was created.
    assert run(["docker", "ps", "-a", "--format", "{{.Names}}"]).stdout.split().count("shop-dbsplit-source") == 0
    assert "shop-postgres-catalog" not in run(["docker", "ps", "-a", "--format", "{{.Names}}"]).stdout
    assert not os.path.exists(STATE_DIR)

    result = ansible_playbook("migrate.yml", *INVENTORIES, "-e", f"@{dump_source}")
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-3000:]
    assert "shop-Sandbox-pw-7" not in result.stdout + result.stderr
    assert "rows written to the monolith after it was taken are not migrated" in " ".join(result.stdout.split())
    assert table_digests(*CATALOG_DB, CATALOG, excluded={}) == {t: expected[t] for t in CATALOG}
    assert table_digests(*SALES_DB, SALES, excluded={}) == {t: expected[t] for t in SALES}
    # The backup every target came from was dumped from the scratch server (see roles/backup).
    with open(f"{STATE_DIR}/backup/shop_db.manifest.json") as stream:
        assert json.load(stream)["archive"] == f"{STATE_DIR}/backup/shop_db.dump"
    assert run(["docker", "ps", "-aq", "--filter", "name=shop-dbsplit-source"]).stdout.strip() == ""

    again = ansible_playbook("migrate.yml", *INVENTORIES, "-e", f"@{dump_source}")
    assert again.returncode == 0, again.stdout[-6000:]
    assert "changed=0" in again.stdout and "failed=0" in again.stdout
