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
# ``<state_dir>/state.json`` records what each phase did: {"sequence": n, "steps": {phase:
# {"sequence", "run_id", "at", "result"}}}. It is the one place a phase's result is kept for
# the phases after it, in this run or a later one.

PHASES = ("preflight", "plan", "provision", "stop", "backup", "transfer", "alembic", "verify", "cutover", "report")
# After the migration: finish.yml ends the way back (the reverse stream) and makes it final.
FINISH = "finish"
# What a phase's result is made from: the phase is done while each of these is done and
# was recorded before it. A phase recorded anew (it changed something) makes the phases
# built on it due again: a new freeze, a new backup, a recreated target.
DEPENDS = {
    "plan": ("preflight",),
    "stop": ("plan",),
    "backup": ("stop",),
    "provision": ("plan",),
    "transfer": ("plan", "backup", "provision"),
    "alembic": ("transfer",),
    "verify": ("alembic",),
    "cutover": ("verify",),
    FINISH: ("cutover",),
}
# Phases that bring the platform to a state and change nothing when it is already there:
# they run on every pass until the cutover begins (the services could have been restarted,
# a target stopped, meanwhile).
ENSURED = ("preflight", "plan", "provision", "stop")
# From the cutover on the services write to the targets: the phases that built them are
# proven and never run again (a re-verify would trip over the services' own rows).
BEFORE_CUTOVER = ("plan", "provision", "stop", "backup", "transfer", "alembic", "verify")
# Phases that read the source: with a dump file as the source (Option A) the scratch server
# serving it lives only as long as the run whose preflight started it.
READ_SOURCE = ("plan", "stop", "backup", "verify")


def progress_path(state_dir):
    return os.path.join(state_dir, "state.json")


def read_progress(state_dir):
    return _read_json(progress_path(state_dir)) or {"sequence": 0, "steps": {}}


def done(progress, phase):
    """Whether ``phase`` is recorded and still valid: everything it was built from is done
    and was recorded before it."""
    steps = progress["steps"]
    if phase not in steps:
        return False
    return all(done(progress, dep) and steps[dep]["sequence"] < steps[phase]["sequence"]
               for dep in DEPENDS.get(phase, ()))


def stage(progress):
    """migrating, cutover (begun, not finished: the services may be writing), completed, or
    finished (finish.yml: no way back but the backup)."""
    cutover = progress["steps"].get("cutover")
    if cutover is None:
        return "migrating"
    if FINISH in progress["steps"]:
        return "finished"
    return "completed" if cutover["result"].get("completed_at") else "cutover"


def due(progress, phase):
    """Whether the phase's role runs in this pass."""
    if phase in BEFORE_CUTOVER and stage(progress) != "migrating":
        return False
    if phase == "cutover":
        return stage(progress) in ("migrating", "cutover")
    return phase in ("preflight", "report") or phase in ENSURED or not done(progress, phase)


def refusals(progress, selected, source_is_dump=False):
    """Why the phases ``selected`` for this run (by its tags) cannot run alone, as messages
    naming the tags to add; [] when they can. A phase's prerequisites must be done already
    or run earlier in this run."""
    problems = []
    for phase in PHASES:
        if phase not in selected or not due(progress, phase):
            continue
        missing = [dep for dep in DEPENDS.get(phase, ()) if dep not in selected and not done(progress, dep)
                   and due(progress, dep)]
        if missing:
            problems.append(f"phase {phase} needs {', '.join(missing)} first, which "
                            f"{'has' if len(missing) == 1 else 'have'} not run (or must run again): "
                            f"add --tags {','.join(missing + [phase])}")
        if source_is_dump and phase in READ_SOURCE and "preflight" not in selected:
            problems.append(f"phase {phase} reads the source, and a dump file (Option A) is served only by this "
                            f"run's preflight: add --tags preflight,{phase}")
    return problems


def record(state_dir, phase, run_id, result, changed, unwritten=None):
    """Record what ``phase`` did; return the progress and whether the phase took a new place
    in the sequence. A phase that changed nothing and is still done keeps its record (the
    result it recorded then), so the phases built on it stay done; the phase says what a
    change is (a new freeze, a plan with another hash), not a byte-wise comparison of
    results that carry sizes and times. ``unwritten``: a check run's progress so far,
    recorded onto in memory and never written."""
    if phase not in PHASES + (FINISH,):
        raise StateError(f"unknown phase {phase!r} (one of {', '.join(PHASES + (FINISH,))})")
    write = unwritten is None
    progress = read_progress(state_dir) if write else copy.deepcopy(unwritten)
    previous = progress["steps"].get(phase)
    if previous and not changed and done(progress, phase):
        return progress, False
    progress["sequence"] += 1
    progress["steps"][phase] = {"sequence": progress["sequence"], "run_id": run_id,
                                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "result": result}
    if write:
        os.makedirs(state_dir, mode=0o700, exist_ok=True)
        _write_json(progress_path(state_dir), progress)
    return progress, True


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
