"""The preflight refuses a source or a new database outside the proven matrix, before any change."""

from ansible_collections.yemma.dbsplit.plugins.plugin_utils import preflight, versions

SOURCE = {"database": "yemma_db"}


def version_problems(points, _database, source_version, target_states, image_versions):
    ping = {"server_version": {"full": source_version}}
    return preflight.versions_problems(SOURCE, points, ping, target_states, {"postgres_versions": image_versions})


def test_every_way_a_server_or_binary_reports_its_version_reads_as_its_major():
    assert versions.major(150018) == 15
    assert versions.major(130016) == 13
    assert versions.major(170002) == 17
    assert versions.major(90624) == 9
    assert versions.major("15.18 (Debian 15.18-0+deb12u1)") == 15
    assert versions.major("postgres (PostgreSQL) 13.16 (Debian 13.16-0+deb11u1)") == 13
    assert versions.major("PostgreSQL 17.2 on x86_64-pc-linux-gnu") == 17
    assert versions.major("17beta1") == 17
    assert versions.major(None) is None
    assert versions.major("") is None


def endpoints():
    return {"source": {"id": "container yemma-postgres"},
            "targets": {"a": {"label": "auth_db", "id": "container yemma-postgres-auth", "compose_service": "postgres-auth"},
                        "b": {"label": "logs_db", "id": "10.0.0.9:5432", "compose_service": None}}}


def test_every_pair_of_the_matrix_has_no_version_problem():
    for source, target in [(13, 15), (13, 17), (15, 15), (15, 17), (17, 17)]:
        assert version_problems(endpoints(), "yemma_db", f"{source}.4 (Debian)", {"b": {"server_version": target * 10000 + 2}},
                                {"postgres-auth": f"postgres (PostgreSQL) {target}.2"}) == [], (source, target)


def test_a_version_outside_the_matrix_is_refused_with_the_fix():
    found = version_problems(endpoints(), "yemma_db", "12.20 (Debian 12.20-1)", {"b": {"server_version": 160004}},
                             {"postgres-auth": "postgres (PostgreSQL) 13.16"})
    assert len(found) == 3
    assert found[0] == ("the source yemma_db runs PostgreSQL 12 (container yemma-postgres): this tool is proven on a source "
                        "on PostgreSQL 13, 15 or 17. Upgrade it to one of them first (pg_upgrade), then run again")
    assert found[1].startswith("the new database auth_db runs PostgreSQL 13 (the image of compose service postgres-auth): "
                               "this tool is proven on new databases on PostgreSQL 15 or 17")
    assert found[2].startswith("the new database logs_db runs PostgreSQL 16 (10.0.0.9:5432)")


def test_a_new_database_older_than_the_source_is_refused():
    (found,) = version_problems(endpoints(), "yemma_db", "17.2", {"b": {"server_version": 170002}},
                                {"postgres-auth": "postgres (PostgreSQL) 15.18"})
    assert found.startswith("the new database auth_db runs PostgreSQL 15 (the image of compose service postgres-auth), "
                            "older than the source's 17: a backup is never restored into an older server")


def test_a_running_new_database_is_judged_by_its_server_not_its_image():
    # A container started from another image than its compose service names now.
    found = version_problems(endpoints(), "yemma_db", "15.18", {"a": {"server_version": 130016}},
                             {"postgres-auth": "postgres (PostgreSQL) 15.18"})
    assert len(found) == 1 and "auth_db runs PostgreSQL 13 (container yemma-postgres-auth)" in found[0]


def test_an_unknown_version_is_left_to_the_problem_that_hid_it():
    # A source that refused the login, an image that could not be read: their own problems say why.
    assert version_problems(endpoints(), "yemma_db", None, {"b": {"server_version": None}}, {}) == []
