"""The Alembic commands as the runbook runs them, and reading what `alembic heads` prints."""

import pytest

from ansible_collections.yemma.dbsplit.plugins.filter import dbsplit as filters
from ansible_collections.yemma.dbsplit.plugins.module_utils import alembic

COMPOSE = {"project_dir": "/srv/yemma", "project_name": "yemma", "file": "docker-compose.yml"}


def test_a_one_off_container_of_the_service_runs_alembic_with_its_args_and_env():
    argv = alembic.compose_run_argv(COMPOSE, "candidate", {"args": ["-c", "/app/alembic.ini"], "env": {"PYTHONPATH": ""}},
                                    ["stamp", "head"])
    assert argv[:8] == ["docker", "compose", "--project-directory", "/srv/yemma", "-p", "yemma", "-f",
                        "/srv/yemma/docker-compose.yml"]
    assert argv[argv.index("run"):] == ["run", "--rm", "--no-deps", "--no-TTY", "--env", "PYTHONPATH=", "--",
                                        "candidate", "alembic", "-c", "/app/alembic.ini", "stamp", "head"]


def test_the_single_head_is_the_revision_marked_head():
    printed = "INFO  [alembic.runtime.migration] Context impl PostgresqlImpl.\n7f2e8a4c6b31 (head)\n"
    assert alembic.single_head(printed, "candidate") == "7f2e8a4c6b31"


@pytest.mark.parametrize("printed, count", [("", 0), ("a1 (head)\nb2 (head)\n", 2)])
def test_no_head_or_a_branched_history_is_refused_naming_the_fix(printed, count):
    with pytest.raises(alembic.AlembicError, match=f"candidate: `alembic heads` printed {count} heads.*alembic merge heads"):
        alembic.single_head(printed, "candidate")


def test_the_services_with_alembic_get_their_new_database():
    services = {"auth": {"endpoint": {"container": "pg-auth", "database": "auth_db"}, "alembic": {"args": [], "env": {},
                                                                                                   "version_table": "v"}},
                "company": {"endpoint": {"container": "pg-company", "database": "company_db"}}}
    endpoints = {key: {"connection": {"db": key}} for key in filters.target_endpoints(services)}
    listed = filters.alembic_services(services, endpoints)
    assert [(s["name"], s["endpoint"]["db"]) for s in listed] == [("auth", next(k for k in endpoints if "auth" in k))]
    assert filters.alembic_services(services, endpoints, ["company"]) == []
