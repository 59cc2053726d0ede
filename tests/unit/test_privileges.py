"""What the tool asks of a login that is not a superuser (plugin_utils/privileges): each missing
privilege once, with the statement that grants it, by server version, mode and reverse stream.
The facts as a real server reports them: tests/e2e/test_roles.py."""

import pytest

from ansible_collections.yemma.dbsplit.plugins.plugin_utils import privileges


def facts(**changes):
    """An owner with every grant this tool asks for, on PostgreSQL 17."""
    found = {"login": "yemma", "superuser": False, "replication": True, "signal_backend": True,
             "create_subscription": True, "owns_database": True, "database_owner": "yemma", "database": "yemma_db",
             "server_version": 170002, "foreign_owners": {}, "logging_left_on": []}
    found.update(changes)
    return found


@pytest.mark.parametrize("mode", ["offline", "online"])
@pytest.mark.parametrize("reverse_stream", [True, False])
def test_a_superuser_or_a_granted_owner_lacks_nothing(mode, reverse_stream):
    bare = facts(superuser=True, replication=False, signal_backend=False, create_subscription=False, owns_database=False,
                 server_version=130011, foreign_owners={"admin": ["public.users"]})
    assert privileges.source_problems(bare, mode, reverse_stream) == []
    assert privileges.target_problems(bare, "auth_db", mode, reverse_stream) == []
    assert privileges.source_problems(facts(), mode, reverse_stream) == []
    assert privileges.target_problems(facts(), "auth_db", mode, reverse_stream) == []


def test_the_monolith_lists_each_missing_grant_with_its_statement():
    bare = facts(replication=False, signal_backend=False, create_subscription=False, owns_database=False,
                 database_owner="admin", foreign_owners={"admin": ["public.users", "public.roles"]})
    assert privileges.source_problems(bare, "online", True) == [
        'yemma does not own yemma_db (the monolith) (its owner is admin), whose setting and marker this tool writes: '
        'ALTER DATABASE "yemma_db" OWNER TO "yemma";',
        'yemma cannot act as the owner of public.users, public.roles on yemma_db (the monolith) (owned by admin), which it '
        'dumps, publishes and writes back to: GRANT "admin" TO "yemma";',
        'the freeze ends every other session of yemma_db, other roles\' too: GRANT pg_signal_backend TO "yemma";',
        'the reverse stream runs CREATE SUBSCRIPTION on yemma_db (the monolith): GRANT pg_create_subscription TO "yemma";',
        'online mode\'s copy reads yemma_db through replication connections as yemma: ALTER ROLE "yemma" REPLICATION;',
    ]
    # Offline without the reverse stream: neither a subscription nor a replication connection.
    assert [p for p in privileges.source_problems(bare, "offline", False) if "SUBSCRIPTION" in p or "REPLICATION" in p] == []


@pytest.mark.parametrize("version", [130011, 150018])
def test_before_16_a_subscription_takes_a_superuser_or_the_way_without_it(version):
    (problem,) = privileges.source_problems(facts(server_version=version, create_subscription=False), "offline", True)
    assert problem.startswith(f"the reverse stream runs CREATE SUBSCRIPTION on yemma_db (the monolith), which PostgreSQL "
                              f"{version // 10000} lets only a superuser run")
    assert problem.endswith('ALTER ROLE "yemma" SUPERUSER; for the migration, or set dbsplit_reverse_stream: false (a '
                            'rollback after the cutover then loses what the services wrote)')
    (problem,) = privileges.target_problems(facts(server_version=version), "auth_db", "online", True)
    assert "online mode's copy runs CREATE SUBSCRIPTION on the new database auth_db" in problem
    assert problem.endswith("or use dbsplit_mode: offline")


def test_a_new_database_lists_ownership_replication_and_the_online_subscription():
    bare = facts(replication=False, create_subscription=False, owns_database=False, database="auth_db",
                 database_owner="postgres")
    assert privileges.target_problems(bare, "auth_db", "online", True) == [
        'yemma does not own the new database auth_db (its owner is postgres), whose setting and marker this tool writes: '
        'ALTER DATABASE "auth_db" OWNER TO "yemma";',
        'the reverse stream reads auth_db through a replication connection as yemma: ALTER ROLE "yemma" REPLICATION;',
        'online mode\'s copy runs CREATE SUBSCRIPTION on the new database auth_db: GRANT pg_create_subscription TO "yemma";',
    ]
    assert privileges.target_problems(bare, "auth_db", "offline", False) == [
        privileges.target_problems(bare, "auth_db", "online", True)[0]]


def test_logging_the_session_may_not_turn_off_is_named_where_a_subscription_is_created():
    logging = facts(logging_left_on=["log_min_error_statement = panic", "pg_stat_statements.track_utility = off"])
    (problem,) = privileges.source_problems(logging, "offline", True)
    assert problem == (
        'the reverse stream on yemma_db (the monolith): a session of yemma may not turn off log_min_error_statement, '
        'pg_stat_statements.track_utility, which would write the password CREATE SUBSCRIPTION carries to the server\'s log '
        'or pg_stat_statements: GRANT SET ON PARAMETER log_min_error_statement, pg_stat_statements.track_utility TO '
        '"yemma"; (PostgreSQL 15 on), or, as a superuser, ALTER ROLE "yemma" SET log_min_error_statement = panic; '
        'ALTER ROLE "yemma" SET pg_stat_statements.track_utility = off;')
    assert privileges.source_problems(logging, "offline", False) == []
    assert privileges.target_problems(logging, "auth_db", "offline", True) == []
    (problem,) = privileges.target_problems(logging, "auth_db", "online", True)
    assert problem.startswith("online mode's copy on the new database auth_db: a session of yemma may not turn off")
