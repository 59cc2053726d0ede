"""The run's state on the host: one owner for the lock, the progress and the files.

Layout, all under ``state_dir`` except the lock, which sits beside it so that a run
refused before any change leaves no directory behind::

    <state_dir>.lock        who runs now: run id, controller host, pid and its start time
    <state_dir>/state.json  progress: each phase's record (when, which run, its result)
    <state_dir>/plan.json   the plan the targets are restored from
    <state_dir>/backup/     the full backup (written by the backup module)
    <state_dir>/rollback/   copies of the files a rollback puts back (0600)
    <state_dir>/lists/      the restore's TOC selections (written by the restore module)

A phase is done when it has a record and every phase it depends on was done before it:
a phase run again (a new plan, a new freeze) makes the phases built on it pending again.
Every write goes through a temporary file and a rename, so a crash never leaves a
half-written file; the lock is created with O_EXCL, so two runs cannot both take it.
"""

import hashlib
import json
import os
import shutil
import time

SCHEMA = 1

# In the order they run. preflight and plan always run until the cutover begins (they
# only read, and what they read may have changed since the last run); report always runs.
PHASES = ("preflight", "plan", "stop", "backup", "provision", "transfer", "alembic", "verify", "cutover", "report")
ALWAYS = ("preflight", "plan")

# What each recorded phase rests on: a record older than one of these is stale.
DEPENDS = {
    "plan": ("source",),
    "stop": (),
    "backup": ("stop", "source"),
    "provision": (),
    "transfer": ("plan", "backup", "provision"),
    "alembic": ("transfer",),
    "verify": ("transfer", "alembic"),
    "cutover": ("verify",),
}

# Phases that change nothing on the host: a selection of only these takes no lock.
READ_ONLY = ("report",)


class StateError(RuntimeError):
    """The state directory cannot be used as asked; the message names the fix."""


def lock_path(state_dir):
    return state_dir.rstrip("/") + ".lock"


def empty():
    return {"schema": SCHEMA, "records": {}, "sequence": 0}


def _write_atomic(path, text, mode=0o600):
    partial = f"{path}.partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())
    os.rename(partial, path)


def _read_json(path):
    try:
        with open(path) as stream:
            return json.load(stream)
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise StateError(f"{path} is not valid JSON ({exc}): it was edited or damaged; "
                         "restore it from the run's report or move the state directory aside") from exc


def load(state_dir):
    state = _read_json(os.path.join(state_dir, "state.json")) or empty()
    if state.get("schema") != SCHEMA:
        raise StateError(f"{state_dir}/state.json has schema {state.get('schema')}, this tool reads {SCHEMA}: "
                         "finish or roll back that migration with the version of the tool that started it")
    return state


def load_plan(state_dir):
    return _read_json(os.path.join(state_dir, "plan.json"))


# ---------------------------------------------------------------------------- progress

def done(state, phase, _seen=None):
    """Whether ``phase`` is recorded and rests on records of what it depends on made before it."""
    record = state["records"].get(phase)
    if record is None:
        return False
    for dependency in DEPENDS.get(phase, ()):
        below = state["records"].get(dependency)
        if dependency != "source" and not done(state, dependency):
            return False
        if below is not None and below["sequence"] > record["sequence"]:
            return False
    return True


def stage(state):
    """``completed``, ``cutover`` (services already write to the targets) or ``migrating``."""
    if "completed" in state["records"]:
        return "completed"
    if "cutover_begun" in state["records"]:
        return "cutover"
    return "migrating"


def pending(state):
    """The phases a run has to run, in order."""
    current = stage(state)
    if current == "completed":
        return ["report"]
    if current == "cutover":
        return ["cutover", "report"]
    return [p for p in PHASES if p in ALWAYS or p == "report" or not done(state, p)]


def selected(run_tags, skip_tags):
    """The phases a run selects with --tags / --skip-tags (each play is tagged with its
    phase name and ``phaseN``)."""
    chosen = []
    for number, phase in enumerate(PHASES, start=1):
        tags = {phase, f"phase{number}"}
        if set(skip_tags) & tags:
            continue
        if "all" in run_tags or set(run_tags) & tags:
            chosen.append(phase)
    return chosen


def schedule(state, run_tags=("all",), skip_tags=()):
    """What this run does: {"run": phases to run, "skip": {phase: why}, "refuse": why or None}.

    A selected phase whose prerequisites are neither done nor selected is refused, so any
    subset of tags either works or says what is missing."""
    chosen = selected(run_tags, skip_tags)
    todo = pending(state)
    run = [p for p in chosen if p in todo]
    skip = {p: "done" for p in chosen if p not in todo}
    missing = []
    for phase in run:
        for dependency in DEPENDS.get(phase, ()):
            if dependency in PHASES and dependency not in run and not done(state, dependency):
                missing.append(f"{phase} needs {dependency}")
    refuse = None
    if missing:
        refuse = ("these phases must run first: " + "; ".join(sorted(set(missing))) +
                  ". Run the whole playbook, or add their tags (e.g. --tags "
                  + ",".join(sorted({m.split(' needs ')[1] for m in missing} | set(run))) + ")")
    return {"run": run, "skip": skip, "refuse": refuse, "stage": stage(state),
            "locks": any(p not in READ_ONLY for p in run)}


def record(state, name, result, run_id, now=None):
    """A new state with ``name`` recorded (a phase, or a mark such as cutover_begun)."""
    new = json.loads(json.dumps(state))
    previous = new["records"].get(name)
    # A plan or source that did not change keeps its place: what rests on it stays done.
    if name in ("plan", "source") and previous and previous["result"] == result:
        return new
    new["sequence"] += 1
    new["records"][name] = {"sequence": new["sequence"], "run_id": run_id,
                            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)), "result": result}
    return new


def save(state_dir, state, plan=None):
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    os.chmod(state_dir, 0o700)
    if plan is not None:
        _write_atomic(os.path.join(state_dir, "plan.json"), json.dumps(plan, indent=2, sort_keys=True) + "\n")
    _write_atomic(os.path.join(state_dir, "state.json"), json.dumps(state, indent=2, sort_keys=True) + "\n")


def keep_copies(state_dir, paths):
    """Copy files a rollback puts back into ``rollback/`` (0600, never overwritten: the first
    copy is the original); return {name: sha256}."""
    directory = os.path.join(state_dir, "rollback")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    kept = {}
    for path in paths:
        dest = os.path.join(directory, os.path.basename(path))
        if not os.path.exists(dest):
            fd = os.open(dest + ".partial", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(path, "rb") as src, os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(src, out)
            os.rename(dest + ".partial", dest)
        with open(dest, "rb") as stream:
            kept[os.path.basename(path)] = hashlib.sha256(stream.read()).hexdigest()
    return kept


# ---------------------------------------------------------------------------- lock

def read_lock(state_dir):
    return _read_json(lock_path(state_dir))


def acquire(state_dir, owner, break_run_id=None):
    """Take the lock for ``owner`` ({run_id, controller, pid, pid_started, started}).

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
