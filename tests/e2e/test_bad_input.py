"""Bad input, tried as operators really get it wrong, on the real sandbox over real SSH.

Each case is one real run of migrate.yml with one mistake (in the map, an endpoint, the
credentials, an option, a file, the environment, the tags), and each must: exit non-zero,
say what is wrong and how to fix it, and change nothing (containers, volumes, networks,
files, database settings, the lock, every row of the monolith). They share one sandbox:
a case that changed something fails, and the next case's snapshot starts from the truth.
"""

import contextlib
import copy
import json
import os

import pytest

from sandbox import GROUP_VARS, PROJECT_DIR, ansible_playbook, assert_secret_kept, platform_snapshot, psql, run, sandbox

STATE_DIR = "/var/backups/yemma-dbsplit"
SERVICES = GROUP_VARS["dbsplit_services"]


def services_with(change):
    services = copy.deepcopy(SERVICES)
    change(services)
    return {"dbsplit_services": services}


def extra(variables):
    return ["-e", json.dumps(variables)]


DUMP_SOURCE = {"dump_file": "/srv/yemma/nope.dump", "database": "yemma_db", "tools_image": "local/yemma-postgres:15",
               "scratch_container": "yemma-dbsplit-source"}

# (case id, arguments after migrate.yml, words the output must contain: what and the fix)
CASES = [
    # --- the environment ------------------------------------------------------------
    ("no environment named", [], "a run targets exactly one environment, named with -l"),
    ("two environments", ["-l", "sandbox,staging"], "(environments: staging, sandbox)"),
    # --- the map's shape --------------------------------------------------------------
    ("endpoint without database", extra(services_with(lambda s: s["auth"]["endpoint"].pop("database"))),
     "dbsplit_services.auth.endpoint has no database: add database:"),
    ("misspelt endpoint key", extra(services_with(lambda s: s["auth"]["endpoint"].update(compose_servce="postgres-auth"))),
     "unknown key 'compose_servce'"),
    ("tables as a string", extra(services_with(lambda s: s["auth"].update(tables="users"))),
     "dbsplit_services.auth.tables must be a non-empty list"),
    ("a service without tables", extra(services_with(lambda s: s["auth"].update(tables=[]))),
     "dbsplit_services.auth.tables must be a non-empty list"),
    ("one database, two endpoints", extra(services_with(lambda s: s["audit"]["endpoint"].update(compose_service="postgres-audit"))),
     "target database logs_db on yemma-postgres-logs is given different endpoints by services notification, audit"),
    ("a target on the source's server", extra(services_with(lambda s: s["auth"]["endpoint"].update(container="yemma-postgres"))),
     "is both the source and a target's server"),
    ("alembic without version table", extra(services_with(lambda s: s["candidate"]["alembic"].pop("version_table"))),
     "alembic has no version_table"),
    ("no service at all", extra({"dbsplit_services": {}}), "dbsplit_services must map each service"),
    # --- options ---------------------------------------------------------------------
    ("restore jobs not a number", ["-e", "dbsplit_restore_jobs=many"], "dbsplit_restore_jobs (pg_restore jobs per target) must be a whole number"),
    ("restore jobs zero", ["-e", "dbsplit_restore_jobs=0"], "must be a whole number from 1 to 16 (got '0')"),
    ("negative wait timeout", ["-e", "dbsplit_wait_timeout=-5"], "dbsplit_wait_timeout (seconds to wait for containers)"),
    ("backend services as a string", extra({"dbsplit_backend_services": "auth"}), "dbsplit_backend_services must be a list of names"),
    ("source not a mapping", extra({"dbsplit_source": "yemma-postgres"}), "dbsplit_source must be a mapping"),
    # --- the map against the compose files and the source -----------------------------
    ("misspelt target container", extra(services_with(lambda s: s["auth"]["endpoint"].update(container="yemma-postgres-authx"))),
     "but compose service postgres-auth creates 'yemma-postgres-auth': set container: yemma-postgres-auth"),
    ("misspelt compose service", extra(services_with(lambda s: s["auth"]["endpoint"].update(compose_service="postgres-authx"))),
     "compose_service 'postgres-authx' is not a service of the new (dbsplit_compose_file) compose file"),
    ("unknown backend service", extra({"dbsplit_backend_services": ["auth", "billing"]}),
     "dbsplit_backend_services names billing, not a service of the monolith compose file"),
    ("misspelt table", extra(services_with(lambda s: s["auth"]["tables"].__setitem__(0, "userz"))),
     "maps table 'userz', which does not exist in the source (did you mean 'public.users'?)"),
    ("table mapped twice", extra(services_with(lambda s: s["company"]["tables"].append("users"))),
     "table public.users is mapped to both 'auth' and 'company'"),
    ("unmapped table", extra(services_with(lambda s: s["payment"]["tables"].remove("quotas"))),
     "table public.quotas is in the source but in no service: its rows would be lost"),
    ("alembic_version mapped", extra(services_with(lambda s: s["auth"]["tables"].append("alembic_version"))),
     "alembic_version* tables are never migrated"),
    ("wrong source database", extra({"dbsplit_source": dict(GROUP_VARS["dbsplit_source"], database="yemma_dbx")}),
     "cannot log in to yemma_dbx"),
    ("wrong source container", extra({"dbsplit_source": dict(GROUP_VARS["dbsplit_source"], container="yemma-postgress")}),
     "dbsplit_source.container is 'yemma-postgress', but compose service postgres creates 'yemma-postgres'"),
    # --- the host: files, credentials, network ------------------------------------------
    ("missing .env key", ["-e", "dbsplit_env_user_key=NO_SUCH_KEY"], "has no NO_SUCH_KEY: add NO_SUCH_KEY=..."),
    ("wrong password", ["-e", "dbsplit_env_password_key=DB_USER"], "check DB_USER / DB_PASSWORD in .env"),
    ("wrong project directory", ["-e", "dbsplit_project_dir=/srv/nope"], "/srv/nope/docker-compose.yml is missing"),
    ("wrong network", ["-e", "dbsplit_network=yemma-netwrk"], "network yemma-netwrk does not exist"),
    ("missing dump file (Option A)", extra({"dbsplit_source": DUMP_SOURCE}), "dump file /srv/yemma/nope.dump not found on the host"),
    ("scratch server named as the source", extra({"dbsplit_source": dict(DUMP_SOURCE, scratch_container="yemma-postgres")}),
     "dbsplit_source.scratch_container 'yemma-postgres' is a container of the platform"),
    ("a password in the map", extra(services_with(lambda s: s["auth"]["endpoint"].update(password="in-git-now"))),
     "dbsplit_services.auth.endpoint has password: the credentials come from the .env only"),
    # --- the state of the migration ------------------------------------------------------
    ("a phase whose prerequisites never ran", ["--tags", "transfer"], "phase transfer needs plan, backup, provision first"),
]


@pytest.fixture(scope="module")
def platform():
    sandbox("down")
    sandbox("up", "--size-mb", "10")
    yield
    sandbox("down")


@pytest.mark.parametrize("args, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_with_its_fix_before_any_change(platform, args, expected):
    limit = [] if "-l" in args or args == [] else ["-l", "sandbox"]
    before = platform_snapshot(STATE_DIR)
    result = ansible_playbook("migrate.yml", *limit, *args)
    after = platform_snapshot(STATE_DIR)
    said = " ".join(result.stdout.split())  # the YAML output is folded at its width
    assert result.returncode != 0, said[-3000:]
    assert expected in said, said[-5000:]
    assert "nothing was changed" in said.lower(), said[-3000:]
    for key in before:
        assert after[key] == before[key], key


def refused_with(expected, *args):
    """Run migrate.yml on the sandbox and assert it refuses with ``expected`` and changes nothing."""
    before = platform_snapshot(STATE_DIR)
    result = ansible_playbook("migrate.yml", "-l", "sandbox", *args)
    said = " ".join(result.stdout.split())
    assert result.returncode != 0, said[-3000:]
    assert expected in said, said[-5000:]
    assert "nothing was changed" in said.lower(), said[-3000:]
    assert platform_snapshot(STATE_DIR) == before
    return result


@contextlib.contextmanager
def edited(name, old, new):
    """A file of the platform's project directory with ``old`` replaced by ``new``, restored afterwards."""
    path = os.path.join(PROJECT_DIR, name)
    with open(path) as stream:
        original = stream.read()
    assert old in original, f"{old!r} not in {path}"
    with open(path, "w") as stream:
        stream.write(original.replace(old, new, 1))
    try:
        yield
    finally:
        with open(path, "w") as stream:
            stream.write(original)


def test_a_wrong_password_in_the_env_is_refused_and_never_printed_even_at_vvv(platform):
    with edited(".env", "DB_PASSWORD=", "DB_PASSWORD=Wrong-Secret-4711-"):
        result = refused_with("check DB_USER / DB_PASSWORD in .env", "--check", "-vvv")
    assert_secret_kept(b"Wrong-Secret-4711-", result, STATE_DIR)


def test_a_service_the_new_compose_file_points_at_another_database_is_refused(platform):
    with edited(GROUP_VARS["dbsplit_compose_file"], "DB_HOST: postgres-auth\n      DB_NAME: auth_db",
                "DB_HOST: postgres-company\n      DB_NAME: company_db"):
        refused_with("compose service auth in docker-compose.yml connects to DB_HOST=postgres-company DB_NAME=company_db, "
                     "but the map restores its tables into auth_db on postgres-auth / yemma-postgres-auth")


def test_a_filesystem_too_small_for_a_target_is_refused_with_the_figures(platform):
    mount = "/mnt/dbsplit-small"
    os.makedirs(mount, exist_ok=True)
    run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mount])
    try:
        with edited(GROUP_VARS["dbsplit_compose_file"], "- postgres_auth_data:/var/lib/postgresql/data",
                    f"- {mount}:/var/lib/postgresql/data"):
            refused_with(f"the filesystem at {mount} has 16.0 MB free but the run writes about")
    finally:
        run(["umount", mount], check=False)


def test_an_image_missing_from_the_host_is_refused_before_the_stop(platform):
    # Only the tag goes: the running redis container keeps its image.
    run(["docker", "image", "tag", "local/yemma-redis:latest", "local/yemma-redis:kept-by-test"])
    run(["docker", "image", "rm", "local/yemma-redis:latest"])
    try:
        refused_with("image local/yemma-redis:latest (service redis of ")
    finally:
        run(["docker", "image", "tag", "local/yemma-redis:kept-by-test", "local/yemma-redis:latest"])
        run(["docker", "image", "rm", "local/yemma-redis:kept-by-test"])


def test_a_new_database_whose_postgresql_version_cannot_be_read_or_is_outside_the_matrix_is_refused_before_it_starts(platform):
    # The preflight judges a new database that does not run yet by its image's postgres --version
    # (the matrix: tests/unit/test_versions.py).
    with edited(GROUP_VARS["dbsplit_compose_file"], "container_name: yemma-postgres-auth\n",
                "container_name: yemma-postgres-auth\n    image: local/yemma-redis:latest\n"):
        refused_with("cannot read the PostgreSQL version of image local/yemma-redis:latest (postgres --version: ")
    with edited(GROUP_VARS["dbsplit_compose_file"], "container_name: yemma-postgres-auth\n",
                "container_name: yemma-postgres-auth\n    image: local/yemma-postgres:13\n"):
        refused_with("the new database auth_db runs PostgreSQL 13 (the image of compose service postgres-auth): this tool "
                     "is proven on new databases on PostgreSQL 15 or 17")


@pytest.fixture
def running_auth_target(platform):
    """The auth target started ahead of the migration (an earlier attempt, a hand-made test),
    removed with its volume afterwards."""
    compose = ["docker", "compose", "--project-directory", PROJECT_DIR, "-p", GROUP_VARS["dbsplit_compose_project"],
               "-f", f"{PROJECT_DIR}/{GROUP_VARS['dbsplit_compose_file']}"]
    run([*compose, "up", "-d", "--wait", "postgres-auth"], timeout=180)
    volumes = run(["docker", "inspect", "--format", "{{range .Mounts}}{{.Name}} {{end}}", "yemma-postgres-auth"]).stdout.split()
    yield
    run([*compose, "rm", "--stop", "--force", "postgres-auth"], timeout=120)
    run(["docker", "volume", "rm", *volumes])


def test_a_running_target_that_refuses_the_login_is_refused_with_its_fix(running_auth_target):
    user = GROUP_VARS["dbsplit_env_user_key"]
    with open(f"{PROJECT_DIR}/{GROUP_VARS['dbsplit_env_file']}") as stream:
        login = dict(line.strip().split("=", 1) for line in stream if "=" in line)[user]
    # Created with another password than the .env's (the .env changed since).
    psql("yemma-postgres-auth", "postgres", f"ALTER ROLE \"{login}\" PASSWORD 'changed-since'")
    refused_with(f"target auth_db refuses the login of {login} to auth_db")


def test_a_target_that_holds_something_else_is_refused_with_its_fix(running_auth_target):
    psql("yemma-postgres-auth", "auth_db", "CREATE TABLE handmade (id int)")
    refused_with("target auth_db holds 1 objects that this tool did not restore: empty it")


def test_a_check_run_says_it_would_create_a_database_the_running_target_server_lacks(running_auth_target):
    # The release gives auth a database its server's compose service does not create.
    services = services_with(lambda s: s["auth"]["endpoint"].update(database="accounts_db"))
    with edited(GROUP_VARS["dbsplit_compose_file"], "DB_HOST: postgres-auth\n      DB_NAME: auth_db",
                "DB_HOST: postgres-auth\n      DB_NAME: accounts_db"):
        before = platform_snapshot(STATE_DIR)
        result = ansible_playbook("migrate.yml", "-l", "sandbox", "--check", *extra(services))
        said = " ".join(result.stdout.split())
        assert result.returncode == 0, said[-3000:]
        assert "target accounts_db does not exist on its server: the provision phase creates it (CREATE DATABASE" in said
        assert platform_snapshot(STATE_DIR) == before
    assert psql("yemma-postgres-auth", "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'accounts_db'") == [["0"]]
