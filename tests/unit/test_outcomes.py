"""What each phase says (plugin_utils/outcomes): one line each, what a check run would do, and
the refusals whose words name the fix."""

import time

from ansible_collections.yemma.dbsplit.plugins.plugin_utils import outcomes


def test_the_backup_says_what_it_took_or_would_take():
    manifest = {"id": "44ba", "bytes": 1143210, "seconds": 0.45, "sha256": "44ba982e"}
    assert outcomes.backup_summary({"manifest": manifest}, "offline") == \
        "took backup 44ba: 1.09 MB in 0.45 s, sha256 44ba982e"
    assert outcomes.backup_summary({"manifest": manifest}, "online").endswith("the schema of the targets comes from it)")
    assert outcomes.backup_summary({"manifest": None, "database_bytes": 11397939}, "offline") == \
        "a backup of 10.87 MB would be taken"


def test_the_stop_says_what_stopped_and_what_restarted():
    assert outcomes.stop_summary("offline", "yemma_db", False, True, False, [], False) == \
        "backend services stopped, yemma_db frozen now"
    assert outcomes.stop_summary("offline", "yemma_db", True, False, False, [], False) == "backend services stopped"
    said = outcomes.stop_summary("online", "yemma_db", False, False, True, ["wal_level replica -> logical (restart)"], True)
    assert said == ("online mode: the services keep serving on yemma_db until the cutover, its server would be restarted "
                    "for the online copy and the reverse stream (wal_level replica -> logical (restart))")


def test_a_check_run_of_the_cutover_says_what_it_would_do_not_a_downtime():
    cutover = {"online": False, "reverse_stream": True, "began": False}
    said = outcomes.cutover_summary(cutover, "7.8", None, "yemma_db", ["auth_db", "logs_db"], True)
    assert said == ("would start 2 reverse stream(s) (auth_db, logs_db publish their tables, yemma_db subscribes), start the "
                    "services on the new databases")
    online = outcomes.cutover_summary(dict(cutover, online=True), "0", None, "yemma_db", ["auth_db"], True)
    assert online.startswith("would stop the backend services, freeze yemma_db, switch every target at once")
    done = outcomes.cutover_summary(cutover, 12.7, {"k": [{}, {}], "j": [{}]}, "yemma_db", ["auth_db"], False)
    assert done == ("services started on their new databases; write downtime 12.7 s (services stopped to services healthy); "
                    "every write they make flows back to yemma_db (rollback.yml loses nothing until finish.yml); 3 tables "
                    "proven equal to yemma_db at the freeze (snapshots), while they served")


def copy(label, copied, count, lag, problems=()):
    return {"line": f"{label}: {copied}/{count}", "progress": {"copied": copied, "count": count},
            "status": {"lag_bytes": lag}, "problems": list(problems)}


def test_the_online_copy_is_refused_when_broken_or_late_and_the_services_serve_on():
    done = [copy("auth_db", 5, 5, 100)]
    assert outcomes.online_refusal(done + [{"skipped": True}], 1024, 600, "yemma_db", False) == []
    late = outcomes.online_refusal([copy("auth_db", 4, 5, 0)], 1024, 600, "yemma_db", False)
    assert late[0].startswith("after 600 s (dbsplit_online_copy_timeout) these copies are not done, or lag more than 1.00 KB")
    assert late[1] == "auth_db: 4/5" and "run migrate.yml again to wait more" in late[-1]
    broken = outcomes.online_refusal([copy("auth_db", 5, 5, 0, ["auth_db: subscription disabled"])], 1024, 600, "yemma_db", False)
    assert broken == ["the online copy cannot go on; the old services still serve on yemma_db, unchanged:",
                      "auth_db: subscription disabled"]
    gate = outcomes.online_refusal([copy("auth_db", 5, 5, 4096)], 1024, 600, "yemma_db", True)
    assert gate[0] == "no cutover: the old services still serve on yemma_db, nothing was stopped:"
    assert gate[-1].startswith("these copies lag more than 1.00 KB (dbsplit_max_lag) after 600 s")


def test_the_new_databases_to_restart_and_those_this_tool_cannot():
    targets = {"a": {"label": "auth_db", "compose_service": "postgres-auth"}, "b": {"label": "ext_db", "compose_service": None}}
    found = outcomes.publisher_restart({"servers": {"a": {"restart_needed": True}, "b": {"restart_needed": True}},
                                        "problems": []}, targets)
    assert found == {"services": ["postgres-auth"],
                     "problems": ["restart the server of ext_db: wal_level = logical is set and takes effect then"]}


def test_install_times_each_step_and_says_what_it_installed():
    now = time.time()
    laps = outcomes.install_laps(now - 45.5, [now - 35.25, now - 15.5])
    assert (laps["databases"], laps["schema"]) == (10.2, 19.8) and 15.5 <= laps["services"] < 16 and 45.5 <= laps["total"] < 46
    proof = {"auth": {"tables": 5, "head": "e84b"}, "company": {"tables": 3, "head": None}}
    assert outcomes.install_summary(proof, 6, 7, False) == \
        "7 services installed on 6 databases: 8 tables proven, 1 Alembic services at head, the stack healthy"
    assert outcomes.install_summary({}, 6, 7, True).startswith("checked, nothing changed: would start 6 databases")
    refusal = outcomes.schema_missing_refusal(["auth: public.users"], "docker-compose.yml", "ansible-playbook reset.yml -e service={service}")
    assert refusal[1] == "auth: public.users" and refusal[-1].endswith("repaired with ansible-playbook reset.yml -e service=<service>")


def test_the_provision_says_which_new_databases_run_and_which_it_created():
    targets = {"a/auth_db": {"label": "auth_db", "running": True}, "b/audit_db": {"label": "audit_db", "running": True}}
    assert outcomes.provision_summary(targets, {"created": ["audit_db"]}, False, {"skipped": True}, 1024, False) == \
        "2 of 2 new databases running, with the infrastructure (audit_db created)"
    said = outcomes.provision_summary(dict(targets, **{"c/logs_db": {"label": "logs_db", "running": False}}),
                                      {"skipped": True}, True, {"changes": []}, 1024, True)
    assert said == ("2 of 3 new databases running, with the infrastructure, ready to publish the reverse stream; would set "
                    "wal_level = logical and max_slot_wal_keep_size = 1024 MB on the servers of logs_db once started, and "
                    "restart them before they hold data")


def test_a_check_run_of_the_verify_names_the_targets_it_compares_once_restored():
    verified = {"tables": {"a/auth_db": [{"rows": 10}, {"rows": 5}]}, "objects": 3, "not_restored": ["logs_db", "payment_db"]}
    assert outcomes.verify_summary(verified, "yemma_db") == (
        "2 tables in 1 databases equal the source: 15 rows, checksums, sequences, enums, schema, 3 other objects; would "
        "compare logs_db, payment_db once restored")


def audit_report(**changes):
    report = {"source": "yemma_db", "consistent_point": "reverse_stream", "waited": 0.4, "not_restored": [],
              "check_mode": False, "seconds": 3.2, "sample_keys": 20, "plan": [], "differences": [], "rows_differing": [],
              "tables": {"h/payment_db": [{"table": "public.payments", "source_rows": 900, "rows": 900}],
                         "h/auth_db": [{"table": "public.users", "source_rows": 20, "rows": 20}]}}
    return {**report, **changes}


def test_verify_yml_says_what_it_compared_how_and_which_rows_differ():
    assert outcomes.audit_summary(audit_report()) == (
        "2 new databases, 2 tables, 920 rows of yemma_db compared at one instant (each new database's snapshot, then "
        "yemma_db's once every reverse stream had applied up to it: 0.4 s) in 3.2 s: every row, checksum, schema object "
        "and enum equal")
    tables = {"h/payment_db": [{"table": "public.payments", "rows_differing": {
        "key": ["id"], "counts": {"missing": 0, "extra": 0, "different": 1}, "keys": {"different": ["(id)=(42)"]}}}]}
    differing = outcomes.rows_differing(tables)
    assert differing == [{"target": "h/payment_db", "table": "public.payments", "key": ["id"],
                          "counts": {"missing": 0, "extra": 0, "different": 1}, "keys": {"different": ["(id)=(42)"]}}]
    said = outcomes.audit_summary(audit_report(consistent_point="snapshots", differences=["payment_db: ..."],
                                               rows_differing=differing, not_restored=["audit_db"],
                                               copying=[{"target": "h/logs_db", "table": "public.audit_logs"}]))
    assert said.endswith("at one instant (a snapshot of each side) in 3.2 s: 1 difference(s) (public.payments in "
                         "payment_db: 1 different); not restored, not compared: audit_db; 1 tables still being copied, "
                         "not compared")
    check = outcomes.audit_summary(audit_report(check_mode=True, consistent_point="snapshots",
                                                plan=[{"label": "auth_db", "tables": 3, "bytes": 2 * 1048576}]))
    assert check == ("would compare 1 new databases (3 tables, 2.00 MB in yemma_db) with yemma_db at one instant (a "
                     "snapshot of each side), and name up to 20 keys of each kind of row that differs")


def test_verify_yml_says_what_its_result_means_where_the_migration_stands():
    def note(stage, point, reverse_live=False):
        return outcomes.audit_note({"stage": stage, "reverse_live": reverse_live}, point, "yemma_db")
    assert "any difference below is a row the stream did not carry" in note("completed", "reverse_stream", True)
    assert note("completed", "snapshots").startswith("no reverse stream (dbsplit_reverse_stream: false)")
    assert note("finished", "snapshots").startswith("finish.yml removed the reverse streams")
    assert note("migrating", "online_copy").startswith("online copy under way")
    assert note("migrating", "snapshots").startswith("before the cutover")


def test_the_online_copy_figures_add_up_the_copy_the_build_and_the_streams():
    copied = {"seconds": 25.3, "paused_seconds": 0.0,
              "copies": {"a": {"action": "copy", "bytes": 3 << 20, "format": "binary", "parts": 2},
                         "b": {"action": "keep", "bytes": 1 << 20, "format": "binary", "parts": 1}}}
    # The build's wall time, not its slowest target's: targets build a few at a time.
    built = {"seconds": 67.6, "restores": {"a": {"seconds": 30.1}, "b": {"seconds": 37.9}}}
    streams = [{"progress": {"count": 3, "bytes": 10}, "status": {"lag_bytes": 512}, "line": "a: 3 tables"},
               {"progress": {"count": 2, "bytes": 5}, "status": {"lag_bytes": None}, "line": "b: 2 tables"},
               {"skipped": True}]
    figures = outcomes.online_copy_figures(streams, time.time() - 90, copied, built)
    assert figures["copy_bytes"] == 3 << 20 and figures["copy_mb_per_second"] == round(3 / 25.3, 1)
    assert figures["build_seconds"] == 67.6 and figures["parts"] == 3 and figures["formats"] == ["binary"]
    assert figures["tables"] == 5 and figures["lag_bytes"] == 512 and figures["lines"] == ["a: 3 tables", "b: 2 tables"]
    assert 89 <= figures["seconds"] <= 120
