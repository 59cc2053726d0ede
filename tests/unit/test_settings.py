"""The settings checked as data before a run: the shipped maps pass, each mistake is named."""

import copy
import os

import pytest
import yaml

from ansible_collections.yemma.dbsplit.plugins.plugin_utils import settings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load(*parts):
    with open(os.path.join(ROOT, *parts)) as stream:
        return yaml.safe_load(stream)


DEFAULTS = load("group_vars", "all", "main.yml")


def test_the_shipped_maps_have_no_problem():
    assert DEFAULTS["dbsplit_large_objects_service"] is None
    assert settings.problems(DEFAULTS) == []
    assert settings.problems(dict(DEFAULTS, dbsplit_large_objects_service="document")) == []
    shop = dict(DEFAULTS, **load("tests", "e2e", "shop", "inventory", "group_vars", "shop.yml"))
    assert settings.problems(shop) == []


def mutate(path, value):
    """DEFAULTS with the value at ``path`` (keys) replaced, or deleted when value is DELETE."""
    changed = copy.deepcopy(DEFAULTS)
    node = changed
    for key in path[:-1]:
        node = node[key]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return changed


DELETE = object()
CASES = [
    (("dbsplit_services", "auth", "endpoint", "database"), DELETE, "dbsplit_services.auth.endpoint has no database"),
    (("dbsplit_services", "auth", "endpoint", "compose_servce"), "x", "unknown key 'compose_servce'"),
    (("dbsplit_services", "auth", "tabels"), ["users"], "dbsplit_services.auth has an unknown key 'tabels'"),
    (("dbsplit_services", "auth", "tables"), [], "dbsplit_services.auth.tables must be a non-empty list"),
    (("dbsplit_services", "auth", "tables"), "users", "dbsplit_services.auth.tables must be a non-empty list"),
    (("dbsplit_services", "auth", "endpoint"), "yemma-postgres-auth", "dbsplit_services.auth.endpoint must be a mapping"),
    (("dbsplit_services", "auth", "endpoint", "host"), "10.0.0.5", "needs exactly one of container"),
    (("dbsplit_services", "auth", "endpoint", "container"), "yemma postgres", "must be a Docker name"),
    (("dbsplit_services", "auth", "endpoint", "database"), "a" * 64, "longer than PostgreSQL's 63-byte limit"),
    (("dbsplit_services", "audit", "endpoint", "compose_service"), "postgres-audit",
     "target database logs_db on yemma-postgres-logs is given different endpoints by services notification, audit"),
    (("dbsplit_source",), "yemma-postgres", "dbsplit_source must be a mapping"),
    (("dbsplit_services", "auth", "endpoint", "container"), "yemma-postgres", "is both the source and a target's server"),
    (("dbsplit_services", "candidate", "alembic", "version_table"), DELETE, "alembic has no version_table"),
    (("dbsplit_services", "candidate", "alembic", "args"), "-c /app/alembic.ini", "alembic.args must be a list"),
    (("dbsplit_restore_jobs",), "many", "dbsplit_restore_jobs (pg_restore jobs per target) must be a whole number from 1"),
    (("dbsplit_restore_jobs",), 0, "must be a whole number from 1 to 16 (got 0)"),
    (("dbsplit_wait_timeout",), -5, "dbsplit_wait_timeout"),
    (("dbsplit_backend_services",), "auth", "dbsplit_backend_services must be a list of names"),
    (("dbsplit_network",), "", "dbsplit_network must be a non-empty string"),
    (("dbsplit_source", "database"), DELETE, "dbsplit_source has no database"),
    (("dbsplit_source", "dump_file"), "backup.dump", "add tools_image"),
    (("dbsplit_services",), {}, "dbsplit_services must map each service"),
    (("dbsplit_on_failure",), "rollback", "dbsplit_on_failure must be return"),
    (("dbsplit_large_objects_service",), "documents", "dbsplit_large_objects_service must name the service of "
     "dbsplit_services that receives the source's large objects (audit, auth, candidate, company, document, "
     "notification, payment), or be null when the source has none (got 'documents')"),
    (("dbsplit_large_objects_service",), ["document"], "dbsplit_large_objects_service must name the service"),
]


@pytest.mark.parametrize("path, value, expected", CASES, ids=[".".join(c[0]) + "=" + repr(c[1])[:20] for c in CASES])
def test_each_mistake_is_named_with_its_fix(path, value, expected):
    found = settings.problems(mutate(path, value))
    assert any(expected in problem for problem in found), found


NEW_STACK = load("sandbox", "compose", "docker-compose.yml")
OLD_STACK = load("sandbox", "compose", "docker-compose.monolith.yml")


def compose_problems(variables):
    return settings.compose_problems(variables["dbsplit_services"], variables["dbsplit_source"],
                                     variables["dbsplit_backend_services"], variables["dbsplit_infrastructure_services"],
                                     "yemma", NEW_STACK, OLD_STACK)


def test_the_shipped_map_matches_the_sandbox_compose_files():
    assert compose_problems(DEFAULTS) == []


COMPOSE_CASES = [
    (("dbsplit_services", "auth", "endpoint", "container"), "yemma-postgres-authx",
     "dbsplit_services.auth.endpoint.container is 'yemma-postgres-authx', but compose service postgres-auth creates "
     "'yemma-postgres-auth': set container: yemma-postgres-auth"),
    (("dbsplit_services", "auth", "endpoint", "compose_service"), "postgres-authx",
     "compose_service 'postgres-authx' is not a service of the new (dbsplit_compose_file) compose file"),
    (("dbsplit_source", "container"), "yemma-postgress", "dbsplit_source.container is 'yemma-postgress'"),
    (("dbsplit_backend_services",), ["auth", "billing"], "dbsplit_backend_services names billing, not a service of the monolith"),
    (("dbsplit_infrastructure_services",), ["redis", "rabbitmq"], "dbsplit_infrastructure_services names rabbitmq"),
]


@pytest.mark.parametrize("path, value, expected", COMPOSE_CASES, ids=[".".join(c[0]) for c in COMPOSE_CASES])
def test_each_map_entry_that_compose_would_not_start_is_named(path, value, expected):
    found = compose_problems(mutate(path, value))
    assert any(expected in problem for problem in found), found


def test_every_image_of_both_compose_files_is_listed_with_its_services():
    images = settings.compose_images("yemma", {"new.yml": NEW_STACK, "old.yml": OLD_STACK})
    assert "local/yemma-postgres:15" in images
    assert {use["file"] for use in images["local/yemma-auth:latest"]} == {"new.yml", "old.yml"}


def test_a_built_service_without_image_is_named_as_compose_names_it():
    images = settings.compose_images("shop", {"f.yml": {"services": {"api": {"build": {"context": "."}}}}})
    assert images == {"shop-api:latest": [{"file": "f.yml", "service": "api", "built": True}]}


def test_a_missing_image_is_a_problem_with_the_command_that_brings_it():
    images = settings.compose_images("yemma", {"new.yml": NEW_STACK})
    present = [image for image in images if image != "local/yemma-redis:latest"]
    assert settings.image_problems(images, present) == [
        "image local/yemma-redis:latest (service redis of new.yml) is not on the host: "
        "docker compose -f new.yml pull redis, then run again"]
    assert settings.image_problems(images, list(images)) == []


@pytest.mark.parametrize("key", ["password", "user"])
def test_credentials_in_the_map_are_refused_the_env_holds_them(key):
    found = settings.problems(mutate(("dbsplit_services", "auth", "endpoint", key), "s3cret"))
    assert any(f"dbsplit_services.auth.endpoint has {key}: the credentials come from the .env only" in p for p in found)
    assert not any("s3cret" in p for p in found)


def test_a_scratch_server_named_as_a_platform_container_is_refused():
    dump_source = {"dump_file": "/srv/yemma/full.dump", "database": "yemma_db", "tools_image": "local/yemma-postgres:15"}
    on_target = settings.problems(mutate(("dbsplit_source",), dict(dump_source, scratch_container="yemma-postgres-auth")))
    assert any("scratch_container 'yemma-postgres-auth' is a container of the platform" in p for p in on_target)
    on_monolith = compose_problems(mutate(("dbsplit_source",), dict(dump_source, scratch_container="yemma-postgres")))
    assert any("scratch_container 'yemma-postgres' is a container of the platform" in p for p in on_monolith)
    assert compose_problems(mutate(("dbsplit_source",), dict(dump_source, scratch_container="yemma-dbsplit-source"))) == []


ENV_KEYS = {"host": "DB_HOST", "database": "DB_NAME", "user": "DB_USER"}


def service_database_problems(stack):
    return settings.service_database_problems(DEFAULTS["dbsplit_services"], stack, ENV_KEYS, "yemma", "docker-compose.yml")


def stack_with(service, **env):
    """The sandbox's new stack as `docker compose config` renders it with DB_USER=yemma, one
    service's environment changed."""
    stack = copy.deepcopy(NEW_STACK)
    for config in stack["services"].values():
        if "DB_USER" in config.get("environment", {}):
            config["environment"]["DB_USER"] = "yemma"
    stack["services"][service]["environment"].update(env)
    return stack


def test_the_sandbox_services_connect_where_the_map_restores():
    assert service_database_problems(stack_with("auth")) == []


def test_a_service_pointed_at_another_services_database_is_refused_showing_both():
    assert service_database_problems(stack_with("auth", DB_HOST="postgres-company", DB_NAME="company_db")) == [
        "compose service auth in docker-compose.yml connects to DB_HOST=postgres-company DB_NAME=company_db, but the map "
        "restores its tables into auth_db on postgres-auth / yemma-postgres-auth: fix the compose file or the map"]


def test_a_worker_pointed_at_no_target_is_refused():
    stack = stack_with("notification-worker", DB_NAME="notifications_db")
    found = service_database_problems(stack)
    assert len(found) == 1 and found[0].startswith(
        "compose service notification-worker in docker-compose.yml connects to DB_HOST=postgres-logs DB_NAME=notifications_db, "
        "which is no target of the map")


def test_a_service_logging_in_as_another_user_is_refused():
    found = service_database_problems(stack_with("auth", DB_USER="auth_rw"))
    assert found == ["compose service auth in docker-compose.yml logs in as DB_USER=auth_rw, not as the .env's user yemma "
                     "the targets are created with: fix the compose file"]


def test_a_run_names_exactly_one_environment():
    assert settings.environment_problems(True, ["prod"], ["prod", "staging"], ["yemma-prod"], "migrate.yml") == []
    (none,) = settings.environment_problems(False, ["prod", "staging"], ["prod", "staging"], ["a", "b"], "migrate.yml")
    assert none.startswith("a run targets exactly one environment, named with -l: ansible-playbook migrate.yml -l "
                           "<environment> (environments: prod, staging). This run has no -l")
    (two,) = settings.environment_problems(True, ["staging", None], ["prod", "staging"], ["a", "b"], "rollback.yml")
    assert "This run targets a, b (environments: staging, none set)" in two


def test_a_rollback_stops_every_service_that_writes_to_a_new_database_workers_included():
    """Case 5: a worker outside dbsplit_backend_services, connected to a new database, would go on
    writing after its reverse stream is removed, and that write would be lost."""
    env = {"host": "DB_HOST", "database": "DB_NAME", "user": "DB_USER"}
    services = {"auth": {"endpoint": {"compose_service": "postgres-auth", "container": "yemma-postgres-auth",
                                      "database": "auth_db"}, "tables": ["users"]}}
    stack = {"services": {"auth": {"environment": {"DB_HOST": "postgres-auth", "DB_NAME": "auth_db"}},
                          "mailer": {"environment": {"DB_HOST": "postgres-auth", "DB_NAME": "auth_db"}},
                          "nginx": {"environment": {}}}}
    assert settings.new_database_clients(stack, services, env, ["auth"]) == ["auth", "mailer"]


def test_only_settings_are_read_before_the_run_starts():
    """The run's own variables (the lock's verdict) cannot be read before the lock is taken."""
    assert settings.setting_names(["dbsplit_mode", "dbsplit_lock_verdict", "dbsplit_services", "dbsplit_run_id"]) == [
        "dbsplit_mode", "dbsplit_services"]
