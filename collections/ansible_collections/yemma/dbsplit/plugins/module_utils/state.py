"""The tool's state on the host: the run lock (who runs now) and the run's progress
(what each phase did, so that a phase runs only while it is due).

The lock is ``<state_dir>.lock``, beside the state directory, so that a run refused
before any change leaves no directory behind. It is created with O_EXCL, so of two runs
started at once exactly one gets it, and it records its owner (run id, controller host,
ansible-playbook pid and that process's start time) so that a later run can tell a live
run from a killed one.
"""

import copy
import json
import os
import time

from ansible_collections.yemma.dbsplit.plugins.module_utils import machine


class StateError(RuntimeError):
    """The state directory cannot be used as asked; the message names the fix."""


def lock_path(state_dir):
    return state_dir.rstrip("/") + ".lock"


def _read_json(path):
    try:
        with open(path) as stream:
            return json.load(stream)
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise StateError(f"{path} is not valid JSON ({exc}): it was edited or damaged; "
                         "if no run is active, move it aside and run again") from exc


def read_lock(state_dir):
    return _read_json(lock_path(state_dir))


def acquire(state_dir, owner, break_run_id=None):
    """Take the lock for ``owner`` ({run_id, owner: {host, pid, pid_started}, playbook, started}).

    Returns (acquired, holder). ``break_run_id``: the run id of a stale lock the operator
    chose to break; only that exact lock is broken (renamed aside), then taken with O_EXCL,
    so two runs breaking it at once cannot both get it."""
    path = lock_path(state_dir)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    holder = read_lock(state_dir)
    # The same run (same id and controller process) taking it again in a later play keeps it.
    if holder and holder.get("run_id") == owner["run_id"] and holder.get("owner") == owner.get("owner"):
        return True, holder
    if holder and break_run_id and holder.get("run_id") == break_run_id:
        try:
            os.rename(path, f"{path}.broken-{break_run_id}")
        except FileNotFoundError:
            pass  # another run broke it first: the O_EXCL below decides who gets it
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False, read_lock(state_dir)
    with os.fdopen(fd, "w") as stream:
        json.dump(owner, stream, indent=2, sort_keys=True)
        stream.write("\n")
        stream.flush()
        os.fsync(stream.fileno())
    return True, owner


def release(state_dir, run_id):
    """Remove the lock if ``run_id`` holds it; return whether it did."""
    holder = read_lock(state_dir)
    if not holder or holder.get("run_id") != run_id:
        return False
    os.remove(lock_path(state_dir))
    for name in os.listdir(os.path.dirname(lock_path(state_dir)) or "."):
        if name.startswith(os.path.basename(lock_path(state_dir)) + ".broken-"):
            os.remove(os.path.join(os.path.dirname(lock_path(state_dir)), name))
    return True


# --- The run's progress --------------------------------------------------------------
#
# ``<state_dir>/state.json`` records what each phase did: {"schema": 2, "sequence": n, "steps":
# {phase: {"sequence", "run_id", "at", "result"}}}. It is the one place a phase's result is kept
# for the phases after it, in this run or a later one; what each phase records, and the rules
# read from it (what is due, where a failure goes), are module_utils/machine's.

def progress_path(state_dir):
    return os.path.join(state_dir, "state.json")


def read_progress(state_dir):
    return _read_json(progress_path(state_dir)) or {"schema": machine.SCHEMA, "sequence": 0, "steps": {}}


def record(state_dir, phase, run_id, result, changed, unwritten=None):
    """Record what ``phase`` did; return the progress and whether the phase took a new place
    in the sequence. A phase that changed nothing and is still done keeps its record (the
    result it recorded then), so the phases built on it stay done; the phase says what a
    change is (a new freeze, a plan with another hash), not a byte-wise comparison of
    results that carry sizes and times. ``unwritten``: a check run's progress so far,
    recorded onto in memory and never written."""
    problems = machine.check_result(phase, result)
    if problems:
        raise StateError(f"the {phase} phase's result does not fit the state's schema (a bug of this tool, nothing "
                         f"was recorded): {'; '.join(problems)}")
    write = unwritten is None
    progress = read_progress(state_dir) if write else copy.deepcopy(unwritten)
    previous = progress["steps"].get(phase)
    if previous and not changed and machine.done(progress, phase):
        return progress, False
    progress["schema"] = machine.SCHEMA
    progress["sequence"] += 1
    progress["steps"][phase] = {"sequence": progress["sequence"], "run_id": run_id,
                                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "result": result}
    if write:
        os.makedirs(state_dir, mode=0o700, exist_ok=True)
        _write_json(progress_path(state_dir), progress)
    return progress, True


def forget(state_dir, phases, unwritten=None):
    """Remove ``phases``' records: what they did no longer holds. A run that went back to the
    monolith before any new service ran forgets its stop and cutover, so the next run stops the
    services again (and takes a new backup), and does not resume a cutover that never served."""
    write = unwritten is None
    progress = read_progress(state_dir) if write else copy.deepcopy(unwritten)
    gone = [phase for phase in phases if progress["steps"].pop(phase, None) is not None]
    if write and gone:
        _write_json(progress_path(state_dir), progress)
    return progress, gone


def retire(state_dir, returned, stamp=None):
    """Set the migration's state aside (``<state_dir>.rolled-back-<stamp>``, its backup kept) and
    start a new one that only knows ``returned``: {target key: what holds it}, the new
    databases whose content a rollback proved back in the monolith. The next migration rebuilds
    them (the preflight accepts them stopped) instead of refusing them. Returns the aside path."""
    stamp = stamp or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = f"{state_dir.rstrip('/')}.rolled-back-{stamp}"
    if os.path.exists(state_dir):
        os.rename(state_dir, aside)
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    _write_json(progress_path(state_dir), {"schema": machine.SCHEMA, "sequence": 0, "steps": {}, "returned": returned})
    return aside


def _write_json(path, data):
    """Write whole or not at all: a run killed mid-write leaves the previous file."""
    partial = path + ".partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as stream:
        json.dump(data, stream, indent=2, sort_keys=True)
        stream.write("\n")
        stream.flush()
        os.fsync(stream.fileno())
    os.rename(partial, path)
