"""Until other versions are proven, the preflight refuses a source or target that is not PostgreSQL 15."""

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


def test_a_platform_on_postgresql_15_has_no_version_problem():
    assert version_problems(endpoints(), "yemma_db", "15.18 (Debian)", {"b": {"server_version": 150018}},
                            {"postgres-auth": "postgres (PostgreSQL) 15.18"}) == []


def test_a_source_or_target_on_another_major_is_refused_with_the_fix():
    found = version_problems(endpoints(), "yemma_db", "13.16 (Debian 13.16-0+deb11u1)", {"b": {"server_version": 170002}},
                             {"postgres-auth": "postgres (PostgreSQL) 15.18"})
    assert len(found) == 2
    assert found[0].startswith("the source yemma_db runs PostgreSQL 13 (container yemma-postgres): this tool is proven on "
                               "PostgreSQL 15 only")
    assert found[1].startswith("the new database logs_db runs PostgreSQL 17 (10.0.0.9:5432)")
    assert all("then run again" in problem for problem in found)


def test_a_new_database_that_does_not_run_yet_is_judged_by_its_image_and_a_running_one_by_its_server():
    found = version_problems(endpoints(), "yemma_db", "15.18", {}, {"postgres-auth": "postgres (PostgreSQL) 17.2"})
    assert found == [found[0]] and found[0].startswith(
        "the new database auth_db runs PostgreSQL 17 (the image of compose service postgres-auth)")
    # The running server wins over the image (a container started from an older image).
    found = version_problems(endpoints(), "yemma_db", "15.18", {"a": {"server_version": 130016}},
                             {"postgres-auth": "postgres (PostgreSQL) 15.18"})
    assert len(found) == 1 and "auth_db runs PostgreSQL 13 (container yemma-postgres-auth)" in found[0]


def test_an_unknown_version_is_left_to_the_problem_that_hid_it():
    # A source that refused the login, an image that could not be read: their own problems say why.
    assert version_problems(endpoints(), "yemma_db", None, {"b": {"server_version": None}}, {}) == []
