"""A platform that is not yemma, migrated with only a different map: the map is data.

"shop" (tests/e2e/shop) has its own compose project, network, container names, .env
keys, non-public schemas, identity columns, a domain, a trigger, pg_trgm, a foreign key
across the split and a table left behind. Its whole description is
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
CATALOG = ["catalog.categories", "catalog.products", "catalog.product_categories", "catalog.product_images"]
# Count and content of every large object, by oid.
LARGE_OBJECTS_SQL = ("SELECT count(*), md5(string_agg(oid || ':' || md5(lo_get(oid)), ',' ORDER BY oid)) "
                     "FROM pg_largeobject_metadata")
SALES = ["sales.customers", "sales.orders", "sales.order_lines"]
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
    assert "drops foreign key order_lines_product_id_fkey on sales.order_lines -> catalog.products" in result.stdout

    source = table_digests("shop-postgres", "shop_db", CATALOG + SALES, excluded={})
    assert table_digests("shop-postgres-catalog", "catalog_db", CATALOG, excluded={}) == \
        {t: source[t] for t in CATALOG}
    assert table_digests("shop-postgres-sales", "sales_db", SALES, excluded={}) == {t: source[t] for t in SALES}
    assert source["sales.order_lines"][0] == 24000
    # The pictures came with the catalog, content and all, and nowhere else.
    pictures = pg("shop-postgres", "shop_db", LARGE_OBJECTS_SQL)
    assert pictures[0][0] == "21"
    assert pg("shop-postgres-catalog", "catalog_db", LARGE_OBJECTS_SQL) == pictures
    assert pg("shop-postgres-sales", "sales_db", "SELECT count(*) FROM pg_largeobject_metadata") == [["0"]]

    # What pg_dump -t would have left out came along: enum, domain, trigger function, extension.
    assert pg("shop-postgres-catalog", "catalog_db",
              "SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'") == [["1"]]
    assert pg("shop-postgres-catalog", "catalog_db", "SELECT 'catalog.price'::regtype, "
              "'catalog.product_state'::regtype") == [["catalog.price", "catalog.product_state"]]
    assert pg("shop-postgres-sales", "sales_db",
              "SELECT tgname FROM pg_trigger WHERE tgrelid = 'sales.orders'::regclass AND NOT tgisinternal") \
        == [["orders_touch"]]
    # Ids continue after the migrated ones (identity and serial).
    assert pg("shop-postgres-catalog", "catalog_db", "INSERT INTO catalog.products (sku, name, price) "
              "VALUES ('new', 'new', 1) RETURNING id")[0] == ["3001"]
    assert pg("shop-postgres-sales", "sales_db",
              "INSERT INTO sales.orders (customer_id) VALUES (1) RETURNING id")[0] == ["8001"]
    # The table left behind stays in shop_db only; the cross-split key is gone from sales_db.
    assert pg("shop-postgres-sales", "sales_db", "SELECT to_regclass('public.legacy_sessions') IS NULL, "
              "count(*) FROM pg_constraint WHERE conname = 'order_lines_product_id_fkey'") == [["t", "0"]]

    report_dirs = [d for d in os.listdir(os.path.join(ROOT, "reports")) if "-shop-host-" in d]
    with open(os.path.join(ROOT, "reports", max(report_dirs), "report.json")) as stream:
        report = json.load(stream)
    assert report["status"] == "migrated and verified"
    assert report["left_behind"] == ["public.legacy_sessions"]
    assert {t["database"] for t in report["targets"]} == {"catalog_db", "sales_db"}
    assert [(lo["database"], lo["count"]) for lo in report["large_objects"]] == [("catalog_db", 21)]
    # Every table of shop_db (8, the one left behind included) proven unwritten since the backup.
    assert int(report["completed"]["freeze_held_tables"]) == 8


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
    assert "catalog_db <- catalog" in check.stdout and "checked, nothing changed" in check.stdout
    # The scratch server the check read the archive through is gone; no target was created.
    assert run(["docker", "ps", "-a", "--format", "{{.Names}}"]).stdout.split().count("shop-dbsplit-source") == 0
    assert "shop-postgres-catalog" not in run(["docker", "ps", "-a", "--format", "{{.Names}}"]).stdout
    assert not os.path.exists(STATE_DIR)

    result = ansible_playbook("migrate.yml", *INVENTORIES, "-e", f"@{dump_source}")
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-3000:]
    assert "shop-Sandbox-pw-7" not in result.stdout + result.stderr
    assert "rows written to the monolith after it was taken are not migrated" in " ".join(result.stdout.split())
    assert table_digests("shop-postgres-catalog", "catalog_db", CATALOG, excluded={}) == \
        {t: expected[t] for t in CATALOG}
    assert table_digests("shop-postgres-sales", "sales_db", SALES, excluded={}) == {t: expected[t] for t in SALES}
    # The backup every target came from was dumped from the scratch server (see roles/backup).
    with open(f"{STATE_DIR}/backup/shop_db.manifest.json") as stream:
        assert json.load(stream)["archive"] == f"{STATE_DIR}/backup/shop_db.dump"
    assert run(["docker", "ps", "-aq", "--filter", "name=shop-dbsplit-source"]).stdout.strip() == ""

    again = ansible_playbook("migrate.yml", *INVENTORIES, "-e", f"@{dump_source}")
    assert again.returncode == 0, again.stdout[-6000:]
    assert "changed=0" in again.stdout and "failed=0" in again.stdout
