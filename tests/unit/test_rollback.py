"""rollback.yml's refusals and one line (plugin_utils/rollback)."""

from ansible_collections.yemma.dbsplit.plugins.module_utils import machine
from ansible_collections.yemma.dbsplit.plugins.plugin_utils import rollback

SETTINGS = {"source_database": "yemma_db", "compose_file": "docker-compose.yml", "accept_orphans": False, "check_mode": False}
ORPHAN = {"table": "public.profiles", "constraint": "profiles_user_id_fkey", "references": "public.users", "rows": 1,
          "examples": ["(id)=(7) -> public.users (id)=(3)"]}


def view(stage, reverse=True):
    steps = {"backup": {"manifest": {"id": "b1", "archive": "/b/b1.dump", "sha256": "abc"}}}
    if stage != "migrating":
        steps["cutover"] = {"started_at": "t0", "reverse_stream": reverse, **({"completed_at": "t1"} if stage != "cutover" else {})}
    if stage == "finished":
        steps["finish"] = {"finished_at": "t2"}
    return machine.recorded({"sequence": 0, "steps": {phase: {"sequence": n, "run_id": "r", "at": "t9", "result": result}
                                                      for n, (phase, result) in enumerate(steps.items(), 1)}})


def endpoints(running=True):
    return {"targets": {"k": {"label": "auth_db", "running": running, "compose_service": "postgres-auth"}}}


def refusals(recorded, settings=SETTINGS, running=True, orphans=(), lost=(), begun=False, archive=None):
    return rollback.refusals(settings, recorded, endpoints(running), list(orphans), [], list(lost), begun, archive)


def test_a_rollback_after_a_completed_cutover_with_everything_in_place_is_allowed():
    assert refusals(view("completed")) == []


def test_after_finish_nothing_else_is_said():
    (finished,) = refusals(view("finished"), running=False, orphans=[ORPHAN])
    assert finished.startswith("the migration was finished at t9 (finish.yml)") and "/b/b1.dump (sha256 abc" in finished


def test_orphans_stop_it_unless_accepted_and_a_check_run_only_lists_them():
    found = refusals(view("completed"), orphans=[ORPHAN])
    assert found[1] == "public.profiles: 1 row(s) break profiles_user_id_fkey (their parent in public.users is gone): " \
                       "(id)=(7) -> public.users (id)=(3)"
    assert found[-1].endswith("-e rollback_accept_orphans=true. Nothing was changed.")
    assert refusals(view("completed"), dict(SETTINGS, accept_orphans=True), orphans=[ORPHAN]) == []
    assert refusals(view("completed"), dict(SETTINGS, check_mode=True), orphans=[ORPHAN]) == []
    assert rollback.orphans_after_catch_up([], "yemma_db", "docker-compose.yml") == []
    assert "the reverse stream is kept" in rollback.orphans_after_catch_up([ORPHAN], "yemma_db", "docker-compose.yml")[-1]


def test_a_stopped_new_database_holds_writes_the_monolith_has_not_got_yet():
    (stopped,) = refusals(view("completed"), running=False)
    assert stopped.startswith("new database(s) auth_db not running") and "up -d --wait postgres-auth" in stopped
    # Without a reverse stream (or before any cutover) there is nothing to wait for.
    assert refusals(view("completed", reverse=False), running=False) == []
    assert refusals(view("migrating"), running=False) == []


def test_a_lost_monolith_needs_its_backup_intact():
    (lost,) = refusals(view("completed"), lost=["yemma_postgres_data"], archive={"exists": True, "checksum": "abd"})
    assert lost.startswith("the monolith's volume yemma_postgres_data is gone, and the migration backup /b/b1.dump")
    assert "damaged" in lost
    assert refusals(view("completed"), lost=["yemma_postgres_data"], archive={"exists": True, "checksum": "abc"}) == []
    assert rollback.lost_volumes([{"item": "a", "rc": 0}, {"item": "b", "rc": 1}]) == ["b"]


def test_the_one_line_says_where_the_platform_is_and_what_was_kept():
    proven = {"rows": 6299, "tables": 24}
    said = rollback.summary(SETTINGS, view("completed"), proven, 15.2, [], None)
    assert said == ("yemma_db serves the platform again; every write made since the cutover came back (6299 rows in 24 tables "
                    "proven equal, write downtime 15.2 s); the new databases are stopped, not deleted (marked returned: the "
                    "next migration rebuilds them)")
    said = rollback.summary(SETTINGS, view("completed", reverse=False), proven, 3.0, [], None)
    assert "are NOT in yemma_db (no reverse stream)" in said and "kept as they are" in said
    said = rollback.summary(dict(SETTINGS, check_mode=True), view("completed"), proven, 0, ["v"], None)
    assert said.startswith("the monolith's volume v is gone: yemma_db would be rebuilt from the migration backup b1")
    assert "checked, nothing changed" in said
    said = rollback.summary(SETTINGS, view("completed"), proven, 20.0, ["v"], {"entries": 312, "seconds": 4.5})
    assert said.startswith("the monolith's volume v is gone: yemma_db restored from backup b1 (312 entries, 4.5 s)")
