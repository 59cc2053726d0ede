"""The run lock on the host: who runs a migration or a rollback now.

The lock is ``<state_dir>.lock``, beside the state directory, so that a run refused
before any change leaves no directory behind. It is created with O_EXCL, so of two runs
started at once exactly one gets it, and it records its owner (run id, controller host,
ansible-playbook pid and that process's start time) so that a later run can tell a live
run from a killed one.
"""

import json
import os


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
