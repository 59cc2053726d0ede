"""The run lock and the progress bookkeeping of the state directory (real files, no mocks)."""

import os
import subprocess
import sys

from ansible_collections.yemma.dbsplit.plugins.filter.lock import lock_holder_alive
from ansible_collections.yemma.dbsplit.plugins.lookup.controller import process_start
from ansible_collections.yemma.dbsplit.plugins.module_utils import state


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
