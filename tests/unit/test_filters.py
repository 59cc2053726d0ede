"""The filters that read .env files and turn phase results into the report."""

from ansible_collections.yemma.dbsplit.plugins.filter import dbsplit as filters


def test_env_file_quotes_comments_and_export_are_handled():
    text = "# db\nDB_USER=yemma\nexport DB_PASSWORD='p=ss #1'\n\nBROKEN LINE\nEMPTY=\n"
    assert filters.parse_env(text) == {"DB_USER": "yemma", "DB_PASSWORD": "p=ss #1", "EMPTY": ""}


def test_report_keeps_the_proof_of_the_run_that_verified():
    target = {"key": "yemma-postgres-auth/auth_db", "label": "auth_db", "database": "auth_db", "services": ["auth"],
              "dropped_foreign_keys": [],
              "tables": [{"name": "public.logs", "service": "audit", "partitions": ["public.logs_2025"]},
                         {"name": "public.users", "service": "auth", "partitions": []}]}
    # What dbsplit_verify returned, as the verify phase recorded it.
    verified = {"yemma-postgres-auth/auth_db": [{"table": "public.users", "rows": 3, "bytes": 8192},
                                                {"table": "public.logs_2025", "rows": 2, "bytes": 100}]}
    # A later run reads the saved proof and has no restore of its own.
    (report,) = filters.report_targets([target], verified, {})
    assert (report["rows"], report["bytes"], report["restore_action"]) == (5, 8292, "not run")
    assert [t["service"] for t in report["tables"]] == ["auth", "audit"]


def test_report_without_proof_lists_targets_with_no_rows():
    target = {"key": "yemma-postgres-pay/pay_db", "label": "pay_db", "database": "pay_db", "services": ["payment"],
              "dropped_foreign_keys": [], "tables": []}
    restored = {target["key"]: {"label": "pay_db", "action": "restore", "seconds": 1.5, "entries": 40,
                                "maintenance_work_mem_mb": 64}}
    assert filters.restore_lines(restored) == ["pay_db: restore, 1.5 s, maintenance_work_mem 64 MB"]
    (report,) = filters.report_targets([target], {}, restored)
    assert (report["rows"], report["restore_action"], report["restore_seconds"]) == (0, "restore", 1.5)


def test_plan_printout_names_the_target_of_the_large_objects():
    target = {"label": "document_db", "services": ["document"], "tables": [], "needs": {},
              "dropped_foreign_keys": [], "large_objects": {"count": 4, "bytes": 5255480, "note": None}}
    assert filters.plan_lines(target)[-1] == "  large objects: all 4 of the source (5255480 bytes)"
    assert filters.plan_lines(dict(target, large_objects=None)) == ["document_db <- document"]


def test_the_cutover_needs_a_proof_of_this_plan_and_backup_covering_every_table():
    from ansible_collections.yemma.dbsplit.plugins.module_utils import verify

    def target(database, *tables):
        return {"key": f"pg/{database}", "label": database,
                "objects": {f"pg_class:{i}": {"class": "pg_class", "kind": "r", "identity": t} for i, t in enumerate(tables)}}
    plan = {"hash": "p1", "targets": [target("auth_db", "public.users", "public.roles"), target("logs_db", "public.logs")]}
    proof = {"plan_hash": "p1", "backup_id": "b1",
             "tables": {"pg/auth_db": [{"table": "public.users"}, {"table": "public.roles"}], "pg/logs_db": [{"table": "public.logs"}]}}
    assert verify.proof_gaps(plan, "b1", proof) == []
    assert verify.proof_gaps(plan, "b2", proof) == ["the proof on record was made for plan p1 and backup b1, not for plan p1 and backup b2"]
    assert verify.proof_gaps(plan, "b1", dict(proof, tables={"pg/auth_db": [{"table": "public.users"}]})) == [
        "target auth_db: tables public.roles were never compared", "target logs_db was never verified"]
    assert verify.proof_gaps(plan, "b1", None)[0].startswith("the proof on record was made for plan None")


def test_the_report_names_the_target_that_receives_the_large_objects():
    from ansible_collections.yemma.dbsplit.plugins.filter.dbsplit import large_object_targets
    targets = [{"label": "auth_db", "large_objects": None},
               {"label": "catalog_db", "large_objects": {"count": 21, "bytes": 1500000, "note": None}}]
    assert large_object_targets(targets) == [{"database": "catalog_db", "count": 21, "bytes": 1500000, "note": None}]


INSPECT = (
    '/yemma-postgres\ttrue\tlocal/yemma-postgres:15\t536870912\t{"yemma-network":{"IPAddress":"172.21.0.5"}}\n'
    '/yemma-postgres-auth\tfalse\tlocal/yemma-postgres:15\t157286400\t{"yemma-network":{"IPAddress":""}}\n'
)
SERVICES = {"auth": {"tables": ["users"], "endpoint": {"container": "yemma-postgres-auth", "database": "auth_db"}},
            "audit": {"tables": ["logs"], "endpoint": {"container": "yemma-postgres-logs", "database": "logs_db"}}}


def test_endpoints_are_resolved_from_one_inspect_of_all_containers():
    from ansible_collections.yemma.dbsplit.plugins.filter.dbsplit import resolve_endpoints
    endpoints = resolve_endpoints(INSPECT, {"container": "yemma-postgres", "database": "yemma_db"}, SERVICES,
                                  "yemma-network", "postgres", "pw", "yemma-dbsplit")
    source = endpoints["source"]
    assert source["connection"] == {"login_user": "postgres", "login_password": "pw", "tool_name": "yemma-dbsplit",
                                    "login_host": "172.21.0.5", "login_port": 5432, "db": "yemma_db"}
    assert source["runtime"]["memory_limit"] == 536870912 and source["runtime"]["tools_network"] == "yemma-network"
    # Stopped, and absent (no line: docker said "No such container").
    assert endpoints["targets"]["yemma-postgres-auth/auth_db"] == {
        "running": False, "exists": True, "id": "yemma-postgres-auth", "database": "auth_db", "label": "auth_db",
        "compose_service": None}
    assert endpoints["targets"]["yemma-postgres-logs/logs_db"]["exists"] is False


def test_two_databases_of_the_same_name_on_two_servers_are_two_targets():
    """Keyed by server and database everywhere: neither collapses into the other."""
    from ansible_collections.yemma.dbsplit.plugins.filter.dbsplit import resolve_endpoints
    from ansible_collections.yemma.dbsplit.plugins.module_utils import plan
    services = {"catalog": {"tables": ["items"], "endpoint": {"container": "shop-postgres-catalog", "database": "app"}},
                "sales": {"tables": ["orders"], "endpoint": {"container": "shop-postgres-sales", "database": "app"}},
                "audit": {"tables": ["log"], "endpoint": {"container": "shop-postgres-sales", "database": "audit"}}}
    targets = plan.group_targets(services)
    assert [(t["key"], t["label"], sorted(t["services"])) for t in targets] == [
        ("shop-postgres-catalog/app", "app on shop-postgres-catalog", ["catalog"]),
        ("shop-postgres-sales/app", "app on shop-postgres-sales", ["sales"]),
        ("shop-postgres-sales/audit", "audit", ["audit"])]
    endpoints = resolve_endpoints("", {"container": "shop-postgres", "database": "shop"}, services, "net", "u", "p", "t")
    assert sorted(endpoints["targets"]) == [t["key"] for t in targets]
    assert {k: e["label"] for k, e in endpoints["targets"].items()} == {t["key"]: t["label"] for t in targets}


def test_with_endpoints_pairs_each_plan_target_with_its_endpoint_of_the_kind_asked():
    plan = [{"key": "a/auth_db", "label": "auth_db"}, {"key": "b/logs_db", "label": "logs_db"}]
    endpoints = {"a/auth_db": {"connection": {"db": "auth_db"}, "runtime": {"db": "auth_db", "tools_host": "a"}},
                 "b/logs_db": {"connection": {"db": "logs_db"}, "runtime": {"db": "logs_db", "tools_host": "b"}}}
    paired = filters.with_endpoints(plan, endpoints, "runtime")
    assert [(t["plan"]["label"], t["endpoint"]["tools_host"]) for t in paired] == [("auth_db", "a"), ("logs_db", "b")]
    assert filters.with_endpoints(plan[:1], endpoints, "connection") == [{"plan": plan[0], "endpoint": {"db": "auth_db"}}]


def test_each_running_server_is_prepared_once_with_a_stream_for_each_target_it_holds():
    endpoints = {"a/auth_db": {"id": "a", "running": True, "connection": {"db": "auth_db"}},
                 "a/company_db": {"id": "a", "running": True, "connection": {"db": "company_db"}},
                 "b/logs_db": {"id": "b", "running": True, "connection": {"db": "logs_db"}},
                 "c/pay_db": {"id": "c", "running": False, "connection": {"db": "pay_db"}}}
    assert filters.publisher_servers(endpoints) == [
        {"name": "a/auth_db", "server": {"db": "auth_db"}, "streams": 2},
        {"name": "b/logs_db", "server": {"db": "logs_db"}, "streams": 1}]
