"""The run lock and the progress bookkeeping of the state directory (real files, no mocks)."""

import os
import subprocess
import sys

from ansible_collections.yemma.dbsplit.plugins.filter.run import lock_holder_alive
from ansible_collections.yemma.dbsplit.plugins.lookup.controller import process_start
from ansible_collections.yemma.dbsplit.plugins.module_utils import machine, state


def owner(run_id, pid=None):
    pid = pid or os.getpid()
    return {"run_id": run_id, "owner": {"host": os.uname().nodename, "pid": pid, "pid_started": process_start(pid)}}


def test_lock_sits_beside_the_state_directory_so_a_refused_run_leaves_no_directory(tmp_path):
    state_dir = str(tmp_path / "yemma-dbsplit")
    acquired, _ = state.acquire(state_dir, owner("run-1"))
    assert acquired and os.path.exists(state_dir + ".lock") and not os.path.exists(state_dir)
    assert oct(os.stat(state_dir + ".lock").st_mode & 0o777) == "0o600"


def test_exactly_one_of_two_runs_gets_the_lock(tmp_path):
    state_dir = str(tmp_path / "s")
    assert state.acquire(state_dir, owner("run-1"))[0]
    acquired, holder = state.acquire(state_dir, owner("run-2"))
    assert not acquired and holder["run_id"] == "run-1"
    # The holder taking it again (a later play of the same run) keeps it.
    assert state.acquire(state_dir, owner("run-1"))[0]


def test_only_the_named_stale_lock_is_broken(tmp_path):
    state_dir = str(tmp_path / "s")
    state.acquire(state_dir, owner("run-1"))
    assert not state.acquire(state_dir, owner("run-2"), break_run_id="run-0")[0]
    acquired, holder = state.acquire(state_dir, owner("run-2"), break_run_id="run-1")
    assert acquired and holder["run_id"] == "run-2"
    assert state.read_lock(state_dir)["run_id"] == "run-2"


def test_release_removes_only_the_holders_lock(tmp_path):
    state_dir = str(tmp_path / "s")
    state.acquire(state_dir, owner("run-1"))
    assert not state.release(state_dir, "run-2") and state.read_lock(state_dir)["run_id"] == "run-1"
    assert state.release(state_dir, "run-1") and state.read_lock(state_dir) is None


def test_a_live_holder_is_reported_alive_and_a_dead_one_with_its_evidence():
    assert lock_holder_alive(owner("run-1"))["alive"] is True
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)
    dead = lock_holder_alive(owner("run-2", pid=child.pid) | {"owner": {"host": os.uname().nodename, "pid": child.pid,
                                                                         "pid_started": 1}})
    assert dead["alive"] is False and str(child.pid) in dead["evidence"]
    reused = owner("run-3")
    reused["owner"]["pid_started"] -= 1  # same pid, another process start: the pid was reused
    verdict = lock_holder_alive(reused)
    assert verdict["alive"] is False and "started later" in verdict["evidence"]
    elsewhere = owner("run-4")
    elsewhere["owner"]["host"] = "another-controller"
    assert lock_holder_alive(elsewhere)["alive"] is None


# A result of each phase, as its schema (machine.RESULTS) declares it.
RESULT = {
    "preflight": {"dump_sha256": None},
    "plan": {"plan": {"hash": "h1"}},
    "provision": {},
    "stop": {"mode": "offline", "writes_stopped_at": 1764900000.0},
    "backup": {"manifest": {"id": "b1"}, "write_signature": {}, "while_serving": False},
    "transfer": {"restores": {}, "online": None},
    "alembic": {"heads": {}},
    "verify": {"tables": {}, "plan_hash": "h1", "backup_id": "b1"},
}


def record_all(state_dir, *phases, changed=True):
    for phase in phases:
        progress, _ = state.record(state_dir, phase, "run-1", RESULT[phase], changed)
    return progress


def test_progress_is_written_whole_and_private(tmp_path):
    state_dir = str(tmp_path / "s")
    progress = record_all(state_dir, "preflight", "plan")
    assert state.read_progress(state_dir) == progress
    assert oct(os.stat(state.progress_path(state_dir)).st_mode & 0o777) == "0o600"
    assert not os.path.exists(state.progress_path(state_dir) + ".partial")


def test_a_done_phase_is_skipped_and_the_ensured_ones_run_every_pass(tmp_path):
    state_dir = str(tmp_path / "s")
    progress = record_all(state_dir, "preflight", "plan", "stop", "backup", "provision")
    assert not machine.due(progress, "backup") and machine.due(progress, "transfer")
    assert all(machine.due(progress, phase) for phase in ("preflight", "plan", "stop", "provision", "report"))


def test_an_unchanged_pass_keeps_the_later_phases_done_and_a_change_makes_them_due(tmp_path):
    state_dir = str(tmp_path / "s")
    record_all(state_dir, "preflight", "plan", "stop", "backup")
    progress, recorded = state.record(state_dir, "stop", "run-2", RESULT["stop"], changed=False)
    assert not recorded and machine.done(progress, "backup")
    # The source was thawed by hand and the stop phase froze it again: the backup is stale.
    progress, recorded = state.record(state_dir, "stop", "run-3", RESULT["stop"], changed=True)
    assert recorded and not machine.done(progress, "backup") and machine.due(progress, "backup")
    # A new plan (Option A: a new scratch server) invalidates everything built on it.
    progress = record_all(state_dir, "backup", "provision", "transfer", "alembic", "verify")
    assert machine.done(progress, "verify")
    progress, recorded = state.record(state_dir, "plan", "run-4", {"plan": {"hash": "h1", "bytes": 2}}, changed=False)
    assert not recorded and progress["steps"]["plan"]["result"] == RESULT["plan"]
    progress, _ = state.record(state_dir, "plan", "run-4", {"plan": {"hash": "other"}}, changed=True)
    assert [p for p in ("stop", "backup", "transfer", "alembic", "verify") if machine.done(progress, p)] == []


def test_from_the_cutover_on_the_phases_that_built_the_targets_never_run_again(tmp_path):
    state_dir = str(tmp_path / "s")
    record_all(state_dir, *machine.PHASES[:8])
    progress, _ = state.record(state_dir, "cutover", "run-1", {"started_at": "t0"}, changed=True)
    assert machine.stage(progress) == "cutover"
    assert [p for p in machine.PHASES if machine.due(progress, p)] == ["preflight", "cutover", "report"]
    progress, _ = state.record(state_dir, "cutover", "run-1", {"started_at": "t0", "completed_at": "t1"}, changed=True)
    assert machine.stage(progress) == "completed"
    assert [p for p in machine.PHASES if machine.due(progress, p)] == ["preflight", "report"]


def test_a_tag_subset_runs_only_when_what_it_needs_is_done(tmp_path):
    state_dir = str(tmp_path / "s")
    progress = state.read_progress(state_dir)
    assert machine.refusals(progress, ["report"]) == []
    assert machine.refusals(progress, list(machine.PHASES)) == []
    (why,) = machine.refusals(progress, ["backup"])
    assert "phase backup needs stop first" in why and "add --tags stop,backup" in why
    progress = record_all(state_dir, "preflight", "plan", "stop")
    assert machine.refusals(progress, ["backup"]) == []
    (why,) = machine.refusals(progress, ["transfer"])
    assert "needs backup, provision first" in why and "--tags backup,provision,transfer" in why
    assert machine.refusals(progress, ["backup", "provision", "transfer"]) == []
    (why,) = machine.refusals(progress, ["backup"], source_is_dump=True)
    assert "add --tags preflight,backup" in why


def test_a_result_off_its_schema_is_refused_before_anything_is_written(tmp_path):
    state_dir = str(tmp_path / "s")
    record_all(state_dir, "preflight")
    for result, words in (({"plan": {}, "hash": "h"}, "plan records 'hash', which its schema does not declare"),
                          ({"plan": "h1"}, "plan.plan is a string, its schema says object")):
        try:
            state.record(state_dir, "plan", "run-1", result, True)
        except state.StateError as exc:
            assert words in str(exc) and "nothing was recorded" in str(exc)
        else:
            raise AssertionError(f"recorded {result}")
    assert list(state.read_progress(state_dir)["steps"]) == ["preflight"]
    assert state.read_progress(state_dir)["schema"] == machine.SCHEMA


def test_a_return_forgets_the_stop_and_the_cutover_and_a_rollback_retires_the_state(tmp_path):
    state_dir = str(tmp_path / "s")
    record_all(state_dir, *machine.PHASES[:8])
    state.record(state_dir, "cutover", "run-1", {"started_at": "t0", "reverse_stream": True}, changed=True)
    progress, gone = state.forget(state_dir, ["stop", "cutover"])
    assert gone == ["stop", "cutover"] and machine.stage(progress) == "migrating"
    # The next run stops the services again, and everything built on the old freeze is due again.
    assert machine.start_point(progress) == "serving" and machine.due(progress, "backup")
    assert state.read_progress(state_dir) == progress
    aside = state.retire(state_dir, {"k1": "container yemma-postgres-auth"}, stamp="20261205T000000Z")
    assert aside.endswith(".rolled-back-20261205T000000Z") and os.path.exists(os.path.join(aside, "state.json"))
    fresh = state.read_progress(state_dir)
    assert fresh["steps"] == {} and machine.recorded(fresh)["returned"] == {"k1": "container yemma-postgres-auth"}


def test_an_unknown_phase_is_refused(tmp_path):
    try:
        state.record(str(tmp_path), "bakup", "run-1", {}, True)
    except state.StateError as exc:
        assert "unknown phase 'bakup'" in str(exc)
    else:
        raise AssertionError("recorded an unknown phase")
