"""What the login may do on a real server, and what the tool asks of it: a target database its
server lacks (created when the login may, refused with the statement otherwise), and the
privileges each phase needs of a login that is not a superuser (module_utils/privileges.py),
on each server version of the matrix. No Ansible here: the playbooks' path over SSH is
test_version_matrix.py's. One container a version, a few seconds a test.
"""

import psycopg
import pytest

from ansible_collections.yemma.dbsplit.plugins.module_utils import login, pgconn, reverse, target
from ansible_collections.yemma.dbsplit.plugins.plugin_utils import privileges
from test_reverse_stream import PASSWORD, start
from sandbox import run

SERVER = "dbsplit-test-roles"
ROLE_PASSWORD = "roles-Login-pw-5"


def endpoint(host, user, database, password=ROLE_PASSWORD):
    return {"login_host": host, "login_port": 5432, "login_user": user, "login_password": password, "db": database,
            "tool_name": "dbsplit-test", "tools_host": host}


@pytest.fixture(scope="module", params=[13, 15, 17], ids=lambda major: f"pg{major}")
def server(request):
    try:
        host = start(SERVER, request.param)
        with pgconn.connect(psycopg, endpoint(host, "postgres", "postgres", PASSWORD)) as admin:
            admin.execute(f"CREATE ROLE creator LOGIN CREATEDB PASSWORD '{ROLE_PASSWORD}'")
            admin.execute(f"CREATE ROLE plain LOGIN PASSWORD '{ROLE_PASSWORD}'")
        yield host
    finally:
        run(["docker", "rm", "--force", "--volumes", SERVER], check=False, timeout=60)


def databases(host):
    with pgconn.connect(psycopg, endpoint(host, "postgres", "postgres", PASSWORD)) as admin:
        return dict(admin.execute("SELECT datname, pg_get_userbyid(datdba) FROM pg_database").fetchall())


def test_a_database_its_server_lacks_is_created_by_a_login_that_may_and_refused_with_the_statement_otherwise(server):
    refused = target.judge(psycopg, endpoint(server, "plain", "audit_db"), "p1", None)
    assert (refused["state"], refused["action"]) == ("absent", "refuse"), refused
    assert 'CREATE DATABASE "audit_db" OWNER "plain";' in refused["problem"] and refused["server_version"] > 0
    creator = endpoint(server, "creator", "audit_db")
    judged = target.judge(psycopg, creator, "p1", None)
    assert (judged["state"], judged["action"], judged["problem"]) == ("absent", "create", None), judged
    target.create(psycopg, creator, check_mode=True)
    assert "audit_db" not in databases(server)
    target.create(psycopg, creator)
    assert databases(server)["audit_db"] == "creator"
    judged = target.judge(psycopg, creator, "p1", None)
    assert (judged["state"], judged["action"]) == ("empty", "restore"), judged


def test_a_wrong_password_is_still_a_refused_login_not_an_absent_database(server):
    judged = target.judge(psycopg, endpoint(server, "creator", "audit_db", "wrong"), "p1", None)
    assert (judged["state"], judged["action"]) == ("unreachable", "refuse")
    assert judged["problem"].startswith("refuses the login of creator to audit_db (")


@pytest.fixture
def owned(server):
    """yemma_db owned by ``owner`` (a login that is not a superuser), with a table it owns and
    one another role owns; dropped afterwards with both roles."""
    admin_params = endpoint(server, "postgres", "postgres", PASSWORD)
    with pgconn.connect(psycopg, admin_params) as admin:
        admin.execute(f"CREATE ROLE owner LOGIN PASSWORD '{ROLE_PASSWORD}'")
        admin.execute("CREATE ROLE other")
        admin.execute("CREATE DATABASE yemma_db OWNER owner")
    with pgconn.connect(psycopg, endpoint(server, "postgres", "yemma_db", PASSWORD)) as admin:
        admin.execute("CREATE TABLE users (id int PRIMARY KEY); ALTER TABLE users OWNER TO owner")
        admin.execute("CREATE TABLE audit (id int PRIMARY KEY); ALTER TABLE audit OWNER TO other")
    yield endpoint(server, "owner", "yemma_db")
    with pgconn.connect(psycopg, admin_params) as admin:
        admin.execute("DROP DATABASE yemma_db")
        admin.execute("DROP OWNED BY owner, other")  # the grants on shared objects (parameters)
        admin.execute("DROP ROLE owner, other")


def test_an_owner_that_is_not_a_superuser_is_asked_each_grant_and_the_grants_are_enough(server, owned):
    with pgconn.connect(psycopg, owned) as conn:
        facts = login.read(conn, ["public.users", "public.audit"])
    assert (facts["login"], facts["superuser"], facts["owns_database"]) == ("owner", False, True)
    assert facts["foreign_owners"] == {"other": ["audit"]}
    # The defaults of a server: a failing CREATE SUBSCRIPTION would print its text with its error.
    assert facts["logging_left_on"] == ["log_min_error_statement = panic"]
    reverse_stream = facts["server_version"] >= privileges.NON_SUPERUSER_SUBSCRIPTION
    problems = privileges.source_problems(facts, "online" if reverse_stream else "offline", reverse_stream)
    assert any('GRANT "other" TO "owner";' in p for p in problems) and any("pg_signal_backend" in p for p in problems)
    if not reverse_stream:
        (subscription,) = privileges.source_problems(facts, "offline", True)[-1:]
        assert "lets only a superuser run" in subscription
    with pgconn.connect(psycopg, endpoint(server, "postgres", "yemma_db", PASSWORD)) as admin:
        for problem in problems:
            # A grant, or (logging) the first of its two ways: GRANT SET ON PARAMETER from 15, ALTER ROLE before.
            statement = problem.rsplit(": ", 1)[1]
            if "GRANT SET ON PARAMETER" in statement:
                statement = statement.split(" (PostgreSQL 15 on)")[0]
            admin.execute(statement)
        if not reverse_stream:
            # No subscription is made here (below 16 it takes a superuser): the role's own setting.
            admin.execute("ALTER ROLE owner SET log_min_error_statement = panic")
    with pgconn.connect(psycopg, owned) as conn:
        facts = login.read(conn, ["public.users", "public.audit"])
        assert privileges.source_problems(facts, "online" if reverse_stream else "offline", reverse_stream) == []
        assert facts["logging_left_on"] == []


def test_settings_the_login_may_not_alter_are_named_never_tried(server, owned):
    spec = [{"name": "yemma_db", "server": owned, "streams": 2}]
    found = reverse.prepare_servers(psycopg, spec, "publisher", 64, check_mode=True)["yemma_db"]
    assert found["by_hand"] == ["wal_level = logical", "max_slot_wal_keep_size = 64MB"], found
    with pytest.raises(reverse.ReverseError, match="yemma_db: its server needs wal_level = logical, max_slot_wal_keep_size = 64MB, which owner may not set: GRANT ALTER SYSTEM ON PARAMETER wal_level, max_slot_wal_keep_size"):
        reverse.prepare_servers(psycopg, spec, "publisher", 64, check_mode=False)
    with pgconn.connect(psycopg, owned) as conn:
        assert conn.execute("SHOW wal_level").fetchone()[0] == "replica"
