"""Pure logic of install.yml and reset.yml: the map's table names as to_regclass reads them,
the runbook's wrong stamp, what a reset would replace, Alembic's output, which compose
services use a database, the lost monolith's volume and the tables it gets back empty (their
SQL and commands run on real servers in tests/e2e/test_runbook_paths.py)."""

from ansible_collections.yemma.dbsplit.plugins.filter import dbsplit as filters
from ansible_collections.yemma.dbsplit.plugins.module_utils import rebuild, schema, toc
from ansible_collections.yemma.dbsplit.plugins.plugin_utils import settings

RESET = "ansible-playbook reset.yml -l prod -e service={service}"


def test_a_map_name_is_tried_as_sql_and_as_stored():
    assert schema.regclass_texts("users") == ['"public"."users"']
    # As SQL first; as stored, a name may hold quotes too (the plan reads map names both ways).
    assert schema.regclass_texts('public."Person"') == ['"public"."Person"', '"public"."""Person"""']
    assert schema.regclass_texts("Person") == ['"public"."person"', '"public"."Person"']
    assert schema.regclass_texts("sales.Orders") == ['"sales"."orders"', '"sales"."Orders"']


def state(missing, alembic, service="candidate"):
    return {"service": service, "tables": [], "missing": missing, "version_table": "alembic_version", "alembic": alembic}


def test_a_stamp_without_tables_is_the_runbook_trap_and_names_the_reset():
    problems = schema.problems("candidate_db", [state(["profiles"], ["7f2e8a4c6b31"])], [], False, RESET)
    assert len(problems) == 1 and "records revision 7f2e8a4c6b31" in problems[0] and "profiles do not exist" in problems[0]
    assert problems[0].endswith("ansible-playbook reset.yml -l prod -e service=candidate")
    # Not stamped yet (a fresh database), or stamped with its tables: no problem.
    assert schema.problems("candidate_db", [state(["profiles"], None), state([], ["7f2e8a4c6b31"])], [], False, RESET) == []


def test_data_in_a_target_refuses_an_installation_unless_kept():
    data = [{"table": f"public.t{i}", "rows": i + 1} for i in range(7)]
    refused = schema.problems("auth_db", [], data, False, RESET)
    assert "auth_db already holds data: public.t0 (~1 rows)" in refused[0] and "and 2 more" in refused[0]
    assert "install_keep_data=true" in refused[0]
    assert schema.problems("auth_db", [], data, True, RESET) == []


def test_what_a_reset_replaces_is_said_table_by_table():
    lines = schema.loss_lines([{"table": "public.users", "state": "missing", "rows": None, "source_rows": 213},
                               {"table": "public.roles", "state": "differs", "rows": 10, "source_rows": 5},
                               {"table": "public.user_roles", "state": "equal", "rows": 9, "source_rows": 9}])
    assert lines == ["public.users: missing (213 rows once reset)", "public.roles: 10 rows now, 5 once reset"]


def test_alembic_is_at_head_only_with_one_head_and_current_on_it():
    def run(service, command, stdout):
        return {"item": [service, command], "stdout": stdout}
    results = [run("auth", "heads", "e84b2f6a9d13 (head)\n"), run("auth", "current", "e84b2f6a9d13 (head)\n"),
               run("candidate", "heads", "7f2e8a4c6b31 (head)\n"), run("candidate", "current", "5b9d3c7e1a20\n"),
               run("audit", "heads", "aaaa1111 (head)\nbbbb2222 (head)\n"), run("audit", "current", "")]
    assert schema.alembic_behind(results) == ["audit: 2 heads (aaaa1111, bbbb2222): its migrations must have one",
                                              "candidate: at 5b9d3c7e1a20, head is 7f2e8a4c6b31"]
    found = [{"services": [{"service": "auth", "tables": ["public.users"] * 5}]}]
    assert schema.schema_proof(found, results[:2]) == {"auth": {"tables": 5, "head": "e84b2f6a9d13"}}


SERVICES = {
    "notification": {"tables": ["notifications"], "endpoint": {"container": "pg-logs", "database": "logs_db", "compose_service": "postgres-logs"}},
    "audit": {"tables": ["access_logs"], "endpoint": {"container": "pg-logs", "database": "logs_db", "compose_service": "postgres-logs"}},
    "auth": {"tables": ["users"], "endpoint": {"container": "pg-auth", "database": "auth_db", "compose_service": "postgres-auth"}},
}
ENV_KEYS = {"host": "DB_HOST", "database": "DB_NAME", "user": "DB_USER"}


def test_a_reset_stops_every_service_of_the_database_workers_included():
    stack = {"services": {
        "notification-worker": {"environment": {"DB_HOST": "postgres-logs", "DB_NAME": "logs_db"}},
        "auth": {"environment": {"DB_HOST": "postgres-auth", "DB_NAME": "auth_db"}},
        "nginx": {}}}
    assert settings.database_clients(stack, SERVICES, "audit", ENV_KEYS) == ["audit", "notification", "notification-worker"]
    assert settings.database_clients(stack, SERVICES, "auth", ENV_KEYS) == ["auth"]
    assert settings.services_sharing(SERVICES, "notification") == ["audit", "notification"]
    assert list(schema.services_by_target(SERVICES, ["audit", "auth"])) == ["pg-logs/logs_db", "pg-auth/auth_db"]


def test_the_monolith_volume_is_named_as_compose_renders_it():
    stack = {"volumes": {"postgres_data": {"name": "yemma_postgres_data"}},
             "services": {"postgres": {"volumes": [{"type": "volume", "source": "postgres_data", "target": "/data"},
                                                   {"type": "bind", "source": "/etc/x", "target": "/x"}]}}}
    assert filters.service_volumes(stack, "postgres") == ["yemma_postgres_data"]
    assert filters.service_volumes(stack, "redis") == []


def test_the_rebuilt_monolith_gets_the_moved_tables_without_their_rows():
    plan = {"targets": [{"objects": {"a": {"class": "pg_class", "kind": "r", "oid": 20},
                                     "b": {"class": "pg_class", "kind": "p", "oid": 10},
                                     "c": {"class": "pg_type", "kind": "e", "oid": 5}}},
                        {"objects": {"d": {"class": "pg_class", "kind": "r", "oid": 7}}}]}
    assert filters.plan_table_oids(plan) == [7, 20]
    entries = [toc.Entry(1, 1259, 20, "TABLE", "public", "users", "postgres", ()),
               toc.Entry(2, 0, 20, "TABLE DATA", "public", "users", "postgres", (1,)),
               toc.Entry(3, 0, 30, "TABLE DATA", "public", "kept", "postgres", ())]
    listing, count = toc.all_but_data_of(entries, {20})
    assert count == 2 and [line.split(";")[0] for line in listing.splitlines()] == ["1", "3"]


def test_a_rebuild_never_overwrites_a_database_it_did_not_restore():
    assert rebuild.verdict({"state": "empty", "plan": None, "backup": None, "objects": 0}, "b1") == ("restore", None)
    assert rebuild.verdict({"state": "restoring", "plan": "monolith", "backup": "b1", "objects": 9}, "b1") == ("rebuild", None)
    assert rebuild.verdict({"state": "restored", "plan": "monolith", "backup": "b1", "objects": 9}, "b1") == ("keep", None)
    action, why = rebuild.verdict({"state": "foreign", "plan": None, "backup": None, "objects": 40}, "b1")
    assert action == "refuse" and "never overwrites" in why
