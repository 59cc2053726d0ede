"""What a transfer does with a target, from its recorded state."""

from ansible_collections.yemma.dbsplit.plugins.module_utils import target


def info(state, plan=None, backup=None, objects=0):
    return {"state": state, "plan": plan, "backup": backup, "objects": objects}


def test_empty_target_is_restored():
    assert target.verdict(info("empty"), "p1", "b1") == ("restore", None)


def test_foreign_target_is_refused_with_the_fix():
    action, why = target.verdict(info("foreign", objects=12), "p1", "b1")
    assert action == "refuse" and "12 objects" in why and "empty it" in why


def test_other_plan_is_refused():
    action, why = target.verdict(info("restored", "p0", "b1", 40), "p1", "b1")
    assert action == "refuse" and "p0" in why


def test_same_plan_and_backup_is_kept():
    assert target.verdict(info("restored", "p1", "b1", 40), "p1", "b1") == ("keep", None)


def test_half_restored_target_is_rebuilt_not_appended_to():
    assert target.verdict(info("restoring", "p1", "b1", 20), "p1", "b1") == ("rebuild", None)


def test_target_from_an_older_backup_is_rebuilt():
    assert target.verdict(info("restored", "p1", "b0", 40), "p1", "b1") == ("rebuild", None)


def test_live_target_is_never_rebuilt_after_a_new_backup():
    """After cutover the services wrote there: a new backup (migrating again after a
    rollback) must not wipe those writes."""
    action, why = target.verdict(info("live", "p1", "b0", 40), "p1", "b1")
    assert action == "refuse" and "never rebuilds" in why and "docker volume rm" in why


def test_live_target_of_this_backup_is_kept_when_cutover_is_run_again():
    assert target.verdict(info("live", "p1", "b1", 40), "p1", "b1") == ("keep", None)


def test_live_target_is_refused_when_the_backup_is_not_known_yet():
    assert target.verdict(info("live", "p1", "b1", 40), "p1", None)[0] == "refuse"


def test_a_returned_target_is_rebuilt_whatever_plan_and_backup_it_came_from():
    """Its content is the monolith's (a return before any service wrote, or a rollback that
    proved every write back): the next migration rebuilds it without a hand cleanup (cases 8)."""
    assert target.verdict(info("returned", "p0", "b0", 40), "p1", "b1") == ("rebuild", None)
    assert target.verdict(info("returned", "p1", "b1", 40), "p1", None) == ("rebuild", None)
    # What a return marks: only what this tool restored or marked live.
    assert set(target.RETURNABLE) == {"restoring", "schema", "copying", "copied", "restored", "live"}


def test_marker_round_trip():
    text = target.marker_text("yemma-dbsplit", "abc123", "def456", "restoring")
    assert text == "yemma-dbsplit plan=abc123 backup=def456 state=restoring"
    assert target.parse_marker("yemma-dbsplit", text) == ("abc123", "def456", "restoring")


def test_marker_of_another_tool_name_is_not_ours():
    text = target.marker_text("shop-split", "abc123", "def456", "live")
    assert target.parse_marker("yemma-dbsplit", text) is None
    assert target.parse_marker("shop-split", text) == ("abc123", "def456", "live")


def test_a_refused_login_names_the_user_the_database_and_the_fix():
    error = Exception('connection failed: connection to server at "172.18.0.5", port 5432 failed: '
                      'FATAL:  password authentication failed for user "yemma"')
    problem = target.login_refused("yemma", "auth_db", error)
    assert problem.startswith('refuses the login of yemma to auth_db (connection failed: connection to server at')
    assert "password authentication failed" in problem and "put those in the .env" in problem


def test_an_absent_database_is_created_when_the_login_may_and_refused_with_the_statement_otherwise():
    assert target.absent_verdict("yemma", "logs_db", True) == ("create", None)
    action, why = target.absent_verdict("yemma", "logs_db", False)
    assert action == "refuse"
    assert why.startswith("does not exist on its server, and yemma may not create databases there")
    assert 'CREATE DATABASE "logs_db" OWNER "yemma";' in why and 'ALTER ROLE "yemma" CREATEDB' in why


def test_online_modes_schema_restore_keeps_every_stage_of_this_plans_copy_and_rebuilds_a_killed_one():
    """Online mode restores in parts: the schema ("schema"), the copy ("copying", then
    "copied"), the build ("restoring", then "restored"). Its schema restore keeps what this plan
    and backup reached, and rebuilds a copy or a build a killed run left half done."""
    for kept in ("schema", "copied", "restored"):
        assert target.verdict(info(kept, "p1", "b1", 40), "p1", "b1", "before_rows") == ("keep", None)
    for half in ("copying", "restoring"):
        assert target.verdict(info(half, "p1", "b1", 40), "p1", "b1", "before_rows") == ("rebuild", None)
    assert target.verdict(info("copied", "p1", "b0", 40), "p1", "b1", "before_rows") == ("rebuild", None)
    # Offline, a schema without rows is no restored target: rebuilt whole.
    for half in ("schema", "copying", "copied"):
        assert target.verdict(info(half, "p1", "b1", 40), "p1", "b1") == ("rebuild", None)


def test_the_build_over_the_rows_runs_on_a_copied_target_only_and_never_rebuilds():
    assert target.verdict(info("copied", "p1", "b1", 40), "p1", "b1", "after_rows") == ("restore", None)
    assert target.verdict(info("restored", "p1", "b1", 40), "p1", "b1", "after_rows") == ("keep", None)
    for state in ("schema", "copying", "restoring", "live", "returned"):
        action, why = target.verdict(info(state, "p1", "b1", 40), "p1", "b1", "after_rows")
        assert action == "refuse" and f"is {state}" in why and "run migrate.yml again" in why
    action, why = target.verdict(info("copied", "p0", "b1", 40), "p1", "b1", "after_rows")
    assert action == "refuse"
    assert target.verdict(info("empty", None, None, 0), "p1", "b1", "after_rows")[0] == "refuse"
