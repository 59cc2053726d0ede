"""The run as a state machine: every decision that can leave production down, in one place.

A migration moves through phases (``PHASES``) and stages (``stage``: migrating, cutover,
completed, finished). This module says, from the progress recorded in ``state.json``:

- what each phase recorded, read through one accessor (``recorded``) over a declared schema
  (``RESULTS``, checked by ``check_result`` before anything is written);
- which phases are due in this pass, and which tag subsets cannot run alone;
- where a run can fail (``POINTS``, in the order a migration passes them) and where a failure
  at each point sends the platform (``failure_route``): back to the monolith, forward on the new
  databases, or left as it is only when the operator asked. The rule is one: acknowledged
  writes are never given up. Until a new service may have written to a target, the monolith
  holds every write and the platform goes back to it; after that, it goes back only through the
  reverse stream (which carried every write back and proves it), else forward;
- how a cutover resumes (``cutover_start``), and what the report's status line says.

The roles call modules and ask these functions (through the filters of ``filter/run.py``);
they decide nothing themselves. ``tests/unit/test_machine.py`` walks every path.
"""

# --- Phases and their dependencies -------------------------------------------------------

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

# --- What each phase records (state.json, schema 2) --------------------------------------

SCHEMA = 2
# Per phase, the keys of its result and the JSON kinds each may take. A key not declared
# here is refused when recorded, so a phase cannot hand over something no reader knows.
ANY_NUMBER = ("number", "string")  # a timestamp or a duration, as Jinja rendered it
RESULTS = {
    "preflight": {"dump_sha256": ("string", "null")},
    "plan": {"plan": ("object",)},
    "provision": {},
    "stop": {"mode": ("string",), "writes_stopped_at": ANY_NUMBER + ("null",)},
    "backup": {"manifest": ("object", "null"), "write_signature": ("object", "null"), "while_serving": ("boolean",)},
    "transfer": {"restores": ("object",), "online": ("object", "null")},
    "alembic": {"heads": ("object",)},
    "verify": {"tables": ("object",), "plan_hash": ("string",), "backup_id": ("string", "null"), "at_cutover": ("boolean",)},
    "cutover": {"started_at": ("string",), "reverse_stream": ("boolean",), "writes_stopped_at": ANY_NUMBER + ("null",),
                "proof_job": ("string",), "proof_scan_after": ("string",), "completed_at": ("string",),
                "downtime_seconds": ANY_NUMBER, "proof": ("object", "null"), "freeze_held_tables": ("number", "null")},
    FINISH: {"finished_at": ("string",)},
}


def _kind(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def check_result(phase, result):
    """What is wrong with ``result`` as ``phase``'s record ([] when it fits the schema)."""
    declared = RESULTS.get(phase)
    if declared is None:
        return [f"unknown phase {phase!r} (one of {', '.join(RESULTS)})"]
    problems = []
    for key, value in sorted((result or {}).items()):
        if key not in declared:
            problems.append(f"{phase} records {key!r}, which its schema does not declare (declared: {', '.join(declared)})")
        elif _kind(value) not in declared[key]:
            problems.append(f"{phase}.{key} is a {_kind(value)}, its schema says {' or '.join(declared[key])}")
    return problems


def _result(progress, phase):
    step = progress["steps"].get(phase)
    return step["result"] if step else {}


def recorded(progress):
    """The progress as every phase reads it: one flat view of what the phases recorded.

    ``plan`` (the plan's targets, objects, hash), ``manifest`` (the backup), ``mode``,
    ``writes_stopped_at``, ``restores``, ``heads``, ``proof`` ({target key: tables}, whichever
    phase made it), ``cutover`` (its record, or {}), ``reverse_live`` (the services may write
    with the reverse stream carrying it back), ``stage``, ``done`` and ``runs`` ({phase: {run_id,
    at}})."""
    steps = progress["steps"]
    cutover = _result(progress, "cutover")
    now_stage = stage(progress)
    online_proof = (cutover.get("proof") or {}).get("tables")
    return {
        "schema": progress.get("schema", 1),
        "stage": now_stage,
        "done": [phase for phase in PHASES if done(progress, phase)],
        "runs": {phase: {"run_id": step["run_id"], "at": step["at"]} for phase, step in steps.items()},
        "plan": _result(progress, "plan").get("plan"),
        "manifest": _result(progress, "backup").get("manifest"),
        "write_signature": _result(progress, "backup").get("write_signature"),
        "backup_while_serving": bool(_result(progress, "backup").get("while_serving")),
        "mode": _result(progress, "stop").get("mode"),
        "writes_stopped_at": _result(progress, "stop").get("writes_stopped_at"),
        "restores": _result(progress, "transfer").get("restores") or {},
        "online_copy": _result(progress, "transfer").get("online"),
        "heads": _result(progress, "alembic").get("heads") or {},
        "proof": online_proof if online_proof is not None else _result(progress, "verify").get("tables") or {},
        "verify": _result(progress, "verify"),
        "cutover": cutover,
        "finish": _result(progress, FINISH),
        "reverse_live": now_stage in ("cutover", "completed") and bool(cutover.get("reverse_stream")),
        # New databases a rollback proved back in the monolith: rebuilt by the next migration.
        "returned": progress.get("returned") or {},
    }


# --- What is due ----------------------------------------------------------------------------

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


def phase_refusals(phase, view, targets, check_mode, compose_file, proof_gaps=()):
    """What must hold before ``phase``'s role runs, each with its fix; [] when it may run.

    The transfer and the offline verify need every new database running (a crash, a stop by
    hand); an offline cutover that no run began needs a proof on record that covers every target
    and table of its plan and backup (``proof_gaps``: what it does not cover); finish needs a
    completed cutover. A check run changes nothing, so it is refused none of these.
    ``targets``: dbsplit_endpoints.targets."""
    if check_mode:
        return []
    offline = view["mode"] != "online"
    if phase in ("transfer", "verify") and (phase == "transfer" or offline):
        stopped = sorted(key for key, target in targets.items() if not target["running"])
        if stopped:
            return [f"target database(s) {', '.join(stopped)} not running "
                    f"({', '.join(targets[key]['id'] for key in stopped)}): find out why (docker logs), then start them "
                    f"(docker compose -f {compose_file} up -d --wait) or run the provision phase again"]
    if phase == "cutover" and offline and view["stage"] == "migrating" and proof_gaps:
        return ["no cutover without a complete proof: run the verify phase again (--tags verify,cutover)"] + list(proof_gaps)
    if phase == FINISH and view["stage"] != "completed":
        hint = "run migrate.yml again to complete the cutover" if view["stage"] == "cutover" else "run migrate.yml first"
        return [f"nothing to finish: the migration is {view['stage']} ({hint}). Nothing was changed."]
    return []


# --- Where a failure sends the platform ------------------------------------------------------

# Where a migration can be when it fails, in the order it passes them. The roles say which
# point they reached (dbsplit_point) just before the step that makes it true.
POINTS = (
    "serving",            # the old services serve on the monolith (offline: up to the stop; online: until the cutover stops them)
    "writes_stopped",     # the old services are stopped (or stopping) and the monolith frozen: nothing writes anywhere;
                          # the targets may be marked live, the cutover is not recorded yet
    "services_starting",  # the cutover is recorded and the new backend services start on the targets, their start is
                          # checked: they may have written there
    "stack_starting",     # the backend serves on the targets, proven by its start; the rest of the stack (nginx, frontend) starts
    "proving",            # online mode: every service serves on the targets while the proof compares the snapshots of the freeze
)


def start_point(progress, operation="migrate"):
    """Where a run starts from, as the progress tells it: an earlier run may have stopped the
    services (offline), or begun a cutover (the new services may have written since). Any other
    playbook starts having changed nothing: a refusal must leave everything as it is (a rollback
    refused after finish.yml must not thaw the monolith)."""
    now_stage = stage(progress)
    if operation != "migrate":
        return "serving"
    if now_stage == "cutover":
        return "services_starting"
    if now_stage == "migrating" and _result(progress, "stop").get("mode") == "offline":
        return "writes_stopped"
    return "serving"


# Where a rollback.yml can be when it fails.
ROLLBACK_POINTS = (
    "serving",            # the rollback has changed nothing yet (its refusals and the operator's answer come first)
    "targets_stopped",    # the new services are stopped, the monolith frozen, the reverse stream still carries their writes
    "monolith_proven",    # the monolith holds every write (proven back, or the new services never wrote: a rollback
                          # before any cutover is here once it starts): it is the truth
)
# Where the platform goes:
#   none      nothing was stopped (or it is a check run): the platform serves as it did
#   return    back to the monolith, which holds every write (no new service ever ran): thaw it, start
#             the old services, forget the stop, mark the targets returned (rebuilt next time)
#   rollback  back to the monolith through the reverse stream: stop the new services, wait until the
#             monolith applied their last write, prove it, thaw it, start the old services
#   forward   on the new databases, which hold writes the monolith lacks: start the new services
#             again and keep the cutover (migrate.yml resumes it; rollback.yml returns losslessly)
#   stay      leave it as it stopped, because the operator asked (dbsplit_on_failure: stay)
ROUTES = ("none", "return", "rollback", "forward", "stay")
ON_FAILURE = ("return", "stay")
# What a failure at a point stops the cutover on (cause): an online proof that found a difference
# returns through the rollback, which must then not refuse on that same difference.
CAUSES = ("failure", "proof")


def failure_route(point, reverse_stream, on_failure="return", check_mode=False, operation="migrate", cause="failure"):
    """{"route": one of ROUTES, "why": the operator's sentence} for a run that failed at ``point``.

    ``reverse_stream``: the cutover started (or would start) the reverse stream, which carries
    every write of the new services back to the monolith. ``operation``: migrate or rollback."""
    points = ROLLBACK_POINTS if operation == "rollback" else POINTS
    if operation in ("migrate", "rollback") and point not in points:
        raise ValueError(f"unknown point {point!r} of {operation} (one of {', '.join(points)})")
    if on_failure not in ON_FAILURE:
        raise ValueError(f"dbsplit_on_failure is {on_failure!r} (one of {', '.join(ON_FAILURE)})")
    if check_mode:
        return {"route": "none", "why": "a check run changes nothing"}
    if operation not in ("migrate", "rollback"):
        return {"route": "none", "why": ""}  # install, reset and finish say themselves where they stopped
    if point == "serving":
        return {"route": "none", "why": "nothing was stopped: the platform serves as it did"}
    if on_failure == "stay":
        return {"route": "stay", "why": "left as it stopped, as asked (dbsplit_on_failure: stay)"}
    if operation == "rollback":
        if point == "targets_stopped":
            return {"route": "forward", "why": "the new databases still hold the truth (the monolith is frozen, the reverse "
                                               "stream kept): the new services start again on them"}
        return {"route": "return", "why": "the monolith holds every write: it is thawed and the old services start on it"}
    if point == "writes_stopped":
        return {"route": "return", "why": "no new service has run, so the monolith holds every write"}
    if point == "stack_starting":
        return {"route": "forward", "why": "the backend serves on the new databases and passed its checks; only the rest "
                                           "of the stack failed to start"}
    if reverse_stream:
        why = ("the proof found a difference while the new services served; the reverse stream carried their writes back"
               if cause == "proof" else "the new services may have written to the new databases; the reverse stream "
                                        "carried those writes back")
        return {"route": "rollback", "why": why}
    return {"route": "forward", "why": "the new services may have written to the new databases and no reverse stream "
                                       "carries those writes back, so going back would lose them"}


def failure_record(seen):
    """A failure as a run saw it, with where the core sends the platform: {phase, task, message,
    point} and {route, why} (``seen`` also holds reverse_stream, on_failure, check_mode,
    operation and cause, the inputs of ``failure_route``)."""
    route = failure_route(seen["point"], seen["reverse_stream"], seen["on_failure"], seen["check_mode"],
                          seen["operation"], seen["cause"])
    return {"phase": seen["phase"], "task": seen["task"], "message": seen["message"], "point": seen["point"], **route}


# --- The cutover, begun or resumed ------------------------------------------------------------

def cutover_start(progress, reverse_stream, source_is_dump):
    """What the cutover of this pass works with: {began, online, reverse_stream,
    writes_stopped_at, proof_job, proof_scan_after, started_at}.

    A cutover that an earlier run began (its record is in the progress) resumes with what that
    run chose: the same reverse stream, downtime start and proof. A new one takes the settings
    (no reverse stream from a dump file: Option A has no monolith to stream to); online, when
    writes stop and the proof's job are only known once this run stops the services (None here)."""
    view = recorded(progress)
    online = view["mode"] == "online"
    if view["stage"] == "cutover":
        cutover = view["cutover"]
        return {"began": True, "online": online, "reverse_stream": bool(cutover.get("reverse_stream")),
                "writes_stopped_at": cutover.get("writes_stopped_at"), "proof_job": cutover.get("proof_job") or "",
                "proof_scan_after": cutover.get("proof_scan_after") or "", "started_at": cutover.get("started_at")}
    return {"began": False, "online": online, "reverse_stream": bool(reverse_stream and not source_is_dump),
            "writes_stopped_at": None if online else view["writes_stopped_at"], "proof_job": "",
            "proof_scan_after": "", "started_at": None}


def rollback_warning(view, source_database, databases):
    """What a rollback does and what it would lose, for the prompt and its refusal. ``view``:
    ``recorded(progress)``; ``databases``: the new databases' names."""
    said = (f"This stops the services and the new databases ({', '.join(databases)}; kept, with their volumes), puts the "
            f"original compose files and .env back, thaws {source_database} and starts the old services on it.")
    started = view["cutover"].get("started_at")
    if view["reverse_live"]:
        return said + (f" The services have written to the new databases since {started}: the reverse stream has carried "
                       f"those writes back to {source_database}; the rollback waits for the last ones and proves every table "
                       "equal before it thaws.")
    if view["stage"] != "migrating":
        return said + (f" The services have written to the new databases since {started} without a reverse stream: those "
                       f"rows are NOT in {source_database}, so the platform loses them.")
    return said + " The services never wrote to the new databases."


# --- The run lock of a run that is gone ------------------------------------------------------------

def lock_verdict(holder, liveness, answer):
    """Whether this run may break the lock ``holder`` holds, and what to tell the operator.

    ``liveness``: {alive: true|false|null, evidence} as the controller sees the holder's process
    (null: taken from another controller, whose processes this one cannot see). ``answer``: the
    operator's -e dbsplit_break_lock: true breaks a lock whose process this controller saw gone;
    a lock this controller cannot judge is broken only when the answer names its run id, the
    operator's word that they checked it on that controller. Returns {break, alive, message}."""
    run_id = holder["run_id"]
    said = (f"another run holds the lock: {run_id} ({holder.get('playbook', '?')}, started {holder.get('started', '?')}), "
            f"and {liveness['evidence']}.")
    given = str(answer).strip()
    alive = liveness["alive"]
    if alive is True:
        return {"break": False, "alive": alive, "message": f"{said} Wait for it to end. Nothing was changed."}
    if alive is False:
        if given.lower() in ("true", "yes", "on", "1") or given == run_id:
            return {"break": True, "alive": alive, "message": f"{said} Broken on the operator's word."}
        return {"break": False, "alive": alive,
                "message": f"{said} It was killed or its controller died: check that nothing of it still runs (docker ps "
                           "--filter label=yemma-dbsplit), then run again with -e dbsplit_break_lock=true; completed phases "
                           "are kept. Nothing was changed."}
    if given == run_id:
        return {"break": True, "alive": alive, "message": f"{said} Broken on the operator's word that it no longer runs there."}
    owner = holder.get("owner") or {}
    return {"break": False, "alive": alive,
            "message": f"{said} Check on {owner.get('host', '?')} that it no longer runs (ps -p {owner.get('pid', '?')}), then run "
                       f"again with -e dbsplit_break_lock={run_id} (true is not enough here: two runs at once would interleave "
                       "their changes). Nothing was changed."}


# --- What the report says ----------------------------------------------------------------------

FAILED_ROUTE = {
    "none": "nothing was stopped, the platform serves as it did",
    "return": "the platform is back on the monolith",
    "rollback": "the platform is rolled back to the monolith, every write the new services made carried back and proven",
    "forward": "the platform serves on the new databases (the cutover is kept: migrate.yml finishes it)",
    "stay": "the platform is left stopped, as asked (dbsplit_on_failure: stay): it is DOWN until rollback.yml or migrate.yml",
}


def report_status(progress, run_id, check_mode, failure=None):
    """The report's status line: what this run did, or where the migration stands."""
    if failure:
        route = failure.get("route", "none")
        if failure.get("route_error"):
            return (f"FAILED in phase {failure['phase']}: the platform is DOWN (the {route} after the failure failed "
                    "too; see the report)")
        return f"FAILED in phase {failure['phase']}: {FAILED_ROUTE[route]}"
    if check_mode:
        return "checked, nothing changed"
    now_stage = stage(progress)
    if now_stage == "finished":
        return "finished (finish.yml): the migration is final, nothing to do"
    if now_stage == "completed":
        if progress["steps"]["cutover"]["run_id"] == run_id:
            return "migrated and verified"
        return "already complete: nothing to do"
    phases = [phase for phase in PHASES if done(progress, phase)]
    return f"in progress: done {', '.join(phases) or 'nothing yet'}; run migrate.yml again to go on"


def route_notes(results):
    """What a return could not record once the platform was back (a full disk, a target that does
    not answer), from the bookkeeping tasks' results: each a sentence for the operator."""
    notes = []
    for result in results:
        if not result or result.get("skipped"):
            continue
        if result.get("failed"):
            notes.append(f"not recorded: {result.get('msg', 'failed')}")
        notes += [f"not marked returned (the next migration refuses it until it is removed): {target}"
                  for target in result.get("unreachable", [])]
    return notes


def failure_message(failure, source_database, playbook="migrate.yml"):
    """The last words of a failed run: what failed, where the platform is now, how to go on."""
    said = [f"phase {failure['phase']} failed ({failure.get('task') or 'see above'}): see the error above."]
    route = failure.get("route", "none")
    downtime = failure.get("downtime_seconds")
    after = f" after {downtime} s of write downtime" if downtime is not None else ""
    if failure.get("route_error"):
        said.append(f"Taking the platform where the failure sent it ({route}: {failure.get('why', '')}) failed too "
                    f"({failure['route_error']}): it is DOWN. Run rollback.yml to go back to {source_database}, or fix the "
                    "cause and run migrate.yml to go on.")
    elif route == "return":
        said.append(f"The platform is back on the monolith: {source_database} thawed, the old services healthy,{after}; the "
                    "new databases are left as they are for inspection (marked returned: the next migration rebuilds them).")
        said += [f"Note: {note}." for note in failure.get("notes") or []]
    elif route == "rollback":
        said.append(f"The platform is rolled back to the monolith through the reverse stream ({failure.get('why', '')}): "
                    f"every write the new services made came back to {source_database} and was proven there (see the "
                    f"rollback report),{after}.")
    elif route == "forward":
        said.append(f"The platform serves on the new databases ({failure.get('why', '')}),{after}; the cutover is kept: "
                    "run migrate.yml again to finish it, or rollback.yml to go back.")
    elif route == "stay":
        said.append(f"The platform is left as it stopped, as asked (dbsplit_on_failure: stay): it is DOWN until migrate.yml "
                    "goes on or rollback.yml goes back.")
    elif failure.get("why"):
        said.append(failure["why"][0].upper() + failure["why"][1:] + ".")
    said.append("The run lock is released. Fix the cause and run the same command again"
                + (": the phases already done are kept." if playbook == "migrate.yml" else ": what is done is found done again."))
    return " ".join(said)

