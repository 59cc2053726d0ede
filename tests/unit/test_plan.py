"""The planner on the real yemma catalog (captured from schema.sql) and on bad maps."""

import copy
import json
import os

import pytest
import yaml

from ansible_collections.yemma.dbsplit.plugins.module_utils import plan

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")

RUNBOOK_MAP = {
    "auth": ["users", "roles", "user_roles", "refresh_tokens", "admin_invitation_tokens"],
    "candidate": ["profiles", "experiences", "educations", "certifications", "skills", "job_preferences"],
    "company": ["companies", "team_members", "invitations"],
    "payment": ["plans", "subscriptions", "payments", "invoices", "quotas"],
    "document": ["documents"],
    "notification": ["notifications"],
    "audit": ["access_logs"],
}
DATABASES = {"auth": "auth_db", "candidate": "candidate_db", "company": "company_db",
             "payment": "payment_db", "document": "document_db", "notification": "logs_db",
             "audit": "logs_db"}


def services(table_map=None):
    table_map = RUNBOOK_MAP if table_map is None else table_map
    return {name: {"tables": list(tables),
                   "endpoint": {"container": f"yemma-postgres-{DATABASES[name][:-3]}",
                                "database": DATABASES[name]}}
            for name, tables in table_map.items()}


def test_group_vars_ship_the_runbook_map():
    """The defaults the tool runs with are the runbook's table map and databases."""
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "group_vars", "all", "main.yml")) as stream:
        shipped = yaml.safe_load(stream)["dbsplit_services"]
    assert {name: spec["tables"] for name, spec in shipped.items()} == RUNBOOK_MAP
    assert {name: spec["endpoint"]["database"] for name, spec in shipped.items()} == DATABASES


@pytest.fixture(scope="module")
def snapshot():
    with open(os.path.join(FIXTURES, "yemma_catalog.json")) as stream:
        return json.load(stream)


def target(result, database):
    return next(t for t in result["targets"] if t["database"] == database)


def test_runbook_map_plans_without_problem(snapshot):
    result = plan.build_plan(snapshot, services())
    assert result["problems"] == []
    assert [t["database"] for t in result["targets"]] == sorted(set(DATABASES.values()))
    assert result["left_behind"] == ["public.alembic_version"]


def test_dependency_closure_brings_what_pg_dump_t_leaves_out(snapshot):
    result = plan.build_plan(snapshot, services())
    auth = target(result, "auth_db")["needs"]
    assert auth["enum types"] == ["public.userstatus"]
    assert auth["extensions"] == ["citext"]
    assert auth["functions"] == ["public.set_updated_at()"]
    company = target(result, "company_db")["needs"]
    # A function used by a check constraint, a composite type used by a column.
    assert "public.is_valid_slug(pg_catalog.text)" in company["functions"]
    assert company["composite types"] == ["public.postal_address"]
    payment = target(result, "payment_db")["needs"]
    assert payment["domains"] == ["public.money_cents"]
    # A sequence no column owns, used only by a default.
    assert "public.invoice_number_seq" in payment["sequences"]


def test_shared_function_is_copied_into_every_target_that_needs_it(snapshot):
    result = plan.build_plan(snapshot, services())
    for database in ("auth_db", "candidate_db", "company_db"):
        assert "public.set_updated_at()" in target(result, database)["needs"]["functions"]
    assert "functions" not in target(result, "document_db")["needs"]


def test_partitions_follow_their_parent(snapshot):
    result = plan.build_plan(snapshot, services())
    (logs,) = [t for t in target(result, "logs_db")["tables"] if t["name"] == "public.access_logs"]
    assert logs["partitions"] == ["public.access_logs_2025", "public.access_logs_2026", "public.access_logs_default"]


def test_cross_database_foreign_keys_are_dropped_and_listed(snapshot):
    result = plan.build_plan(snapshot, services())
    dropped = {(fk["table"], fk["constraint"], fk["references"])
               for t in result["targets"] for fk in t["dropped_foreign_keys"]}
    assert dropped == {
        ("public.profiles", "profiles_user_id_fkey", "public.users"),
        ("public.team_members", "team_members_user_id_fkey", "public.users"),
        ("public.invitations", "invitations_invited_by_fkey", "public.users"),
        ("public.subscriptions", "subscriptions_company_id_fkey", "public.companies"),
        ("public.quotas", "quotas_company_id_fkey", "public.companies"),
        ("public.documents", "documents_owner_user_id_fkey", "public.users"),
        ("public.notifications", "notifications_user_id_fkey", "public.users"),
    }
    # Foreign keys inside one database stay.
    kept = [o["identity"] for o in target(result, "candidate_db")["objects"].values()
            if o["class"] == "pg_constraint" and o["kind"] == "f"]
    assert "experiences_profile_id_fkey on public.experiences" in kept


def test_same_database_keeps_a_foreign_key_between_two_services(snapshot):
    table_map = dict(RUNBOOK_MAP, auth=RUNBOOK_MAP["auth"] + RUNBOOK_MAP["document"])
    del table_map["document"]
    result = plan.build_plan(snapshot, services(table_map))
    assert not any(fk["constraint"] == "documents_owner_user_id_fkey"
                   for fk in target(result, "auth_db")["dropped_foreign_keys"])


def test_unmapped_table_stops_the_plan(snapshot):
    table_map = dict(RUNBOOK_MAP, payment=["plans", "subscriptions", "payments", "invoices"])
    problems = plan.build_plan(snapshot, services(table_map))["problems"]
    assert len(problems) == 1
    assert "public.quotas" in problems[0] and "dbsplit_tables_left_behind" in problems[0]


def test_left_behind_table_is_not_a_problem(snapshot):
    table_map = dict(RUNBOOK_MAP, payment=["plans", "subscriptions", "payments", "invoices"])
    result = plan.build_plan(snapshot, services(table_map), left_behind=["quotas"])
    assert result["problems"] == []
    assert "public.quotas" in result["left_behind"]


def test_typo_names_the_nearest_table(snapshot):
    table_map = dict(RUNBOOK_MAP, auth=["user", "roles", "user_roles", "refresh_tokens", "admin_invitation_tokens"])
    problems = plan.build_plan(snapshot, services(table_map))["problems"]
    assert any("'user'" in p and "did you mean 'public.users'" in p for p in problems)


def test_table_mapped_twice(snapshot):
    table_map = dict(RUNBOOK_MAP, document=["documents", "users"])
    problems = plan.build_plan(snapshot, services(table_map))["problems"]
    assert any("mapped to both 'auth' and 'document'" in p for p in problems)


def test_alembic_version_is_never_migrated(snapshot):
    table_map = dict(RUNBOOK_MAP, auth=RUNBOOK_MAP["auth"] + ["alembic_version"])
    problems = plan.build_plan(snapshot, services(table_map))["problems"]
    assert any("alembic_version* tables are never migrated" in p for p in problems)


def test_partition_cannot_be_mapped_alone(snapshot):
    table_map = dict(RUNBOOK_MAP, document=["documents", "access_logs_2025"])
    problems = plan.build_plan(snapshot, services(table_map))["problems"]
    assert any("a partition" in p for p in problems)


def test_malformed_service_entry_is_a_map_error(snapshot):
    bad = services()
    del bad["auth"]["endpoint"]
    with pytest.raises(plan.MapError, match="'auth' needs 'tables' and 'endpoint'"):
        plan.build_plan(snapshot, bad)


def test_plan_hash_is_stable_across_oids(snapshot):
    """The hash identifies what moves by name, so a re-created source gives the same hash."""
    shifted = copy.deepcopy(snapshot)
    for obj in shifted["objects"]:
        obj["oid"] += 100000
    for rel in shifted["relations"]:
        rel["oid"] += 100000
        rel["parent"] = rel["parent"] + 100000 if rel["parent"] else None
    for edge in shifted["edges"]:
        edge[1] += 100000
        edge[4] += 100000
    assert plan.build_plan(shifted, services())["hash"] == plan.build_plan(snapshot, services())["hash"]
    changed = dict(RUNBOOK_MAP, payment=["plans", "subscriptions", "payments", "invoices"])
    assert (plan.build_plan(snapshot, services(changed), ["quotas"])["hash"]
            != plan.build_plan(snapshot, services())["hash"])


def with_large_objects(snapshot, count=4, size=5255480):
    changed = copy.deepcopy(snapshot)
    changed["large_objects"] = {"count": count, "bytes": size, "note": None}
    return changed


def test_large_objects_without_a_service_stop_the_plan(snapshot):
    problems = plan.build_plan(with_large_objects(snapshot), services())["problems"]
    assert problems == ["the source holds 4 large objects (5.3 MB) that belong to no service: set "
                        "dbsplit_large_objects_service to the service that owns them (e.g. the one whose "
                        "tables hold their oids)"]


def test_large_objects_of_unknown_size_are_still_counted(snapshot):
    problems = plan.build_plan(with_large_objects(snapshot, size=None), services())["problems"]
    assert problems and "4 large objects (size unknown)" in problems[0]


def test_large_objects_go_to_the_named_service_only(snapshot):
    result = plan.build_plan(with_large_objects(snapshot), services(), large_objects_service="document")
    assert result["problems"] == []
    assert target(result, "document_db")["large_objects"] == {"count": 4, "bytes": 5255480, "note": None}
    assert [t["database"] for t in result["targets"] if t["large_objects"]] == ["document_db"]
    assert result["source_large_objects"]["service"] == "document"


def test_large_objects_service_must_be_a_service_of_the_map(snapshot):
    for source in (snapshot, with_large_objects(snapshot)):
        problems = plan.build_plan(source, services(), large_objects_service="documents")["problems"]
        assert len(problems) == 1
        assert "dbsplit_large_objects_service is 'documents', which is not a service" in problems[0]


def test_large_objects_service_without_large_objects_is_fine(snapshot):
    result = plan.build_plan(snapshot, services(), large_objects_service="document")
    assert result["problems"] == []
    assert not any(t["large_objects"] for t in result["targets"])
    assert result["hash"] == plan.build_plan(snapshot, services())["hash"]


def test_plan_hash_changes_with_the_target_of_the_large_objects(snapshot):
    source = with_large_objects(snapshot)
    hashes = {plan.build_plan(source, services(), large_objects_service=service)["hash"]
              for service in ("document", "auth", "audit")}
    hashes.add(plan.build_plan(snapshot, services(), large_objects_service="document")["hash"])
    assert len(hashes) == 4


def test_a_sequence_two_databases_would_hold_is_refused(snapshot):
    """A stand-alone sequence copied into two databases: both would hand out the same ids."""
    shared = services()
    shared["company"]["objects"] = ["sequence public.invoice_number_seq"]
    result = plan.build_plan(snapshot, shared)
    (problem,) = [p for p in result["problems"] if p.startswith("sequence public.invoice_number_seq")]
    assert "would be in company_db, payment_db" in problem and "give it one owner" in problem
