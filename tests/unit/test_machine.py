"""The run's state machine (module_utils/machine): every failure point of every phase, in both
modes, with and without the reverse stream, is walked through a model of the platform that is
written here, apart from the core: where the core sends the platform must leave it serving
(unless the operator asked to stay) and must keep every write a client was told was saved."""

import glob
import os
import re

import pytest
import yaml

from ansible_collections.yemma.dbsplit.plugins.module_utils import machine
from ansible_collections.yemma.dbsplit.plugins.plugin_utils import settings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The points each phase can fail at, in each mode: what the roles set (dbsplit_point) before
# each step, and where a run starts from (machine.start_point).
REACHABLE = {
    "offline": {"preflight": ["serving"], "plan": ["serving"], "provision": ["serving"], "stop": ["writes_stopped"],
                "backup": ["writes_stopped"], "transfer": ["writes_stopped"], "alembic": ["writes_stopped"],
                "verify": ["writes_stopped"],
                "cutover": ["writes_stopped", "services_starting", "stack_starting"]},
    "online": {"preflight": ["serving"], "plan": ["serving"], "provision": ["serving"], "stop": ["serving"],
               "backup": ["serving"], "transfer": ["serving"], "alembic": ["serving"], "verify": ["serving"],
               "cutover": ["serving", "writes_stopped", "services_starting", "stack_starting",
                           "proving"]},
}


class Platform:
    """The platform as its clients see it, moved through a migration up to a failure point, then
    along the route the core chose. Written from the runbook, not from the core."""

    def __init__(self, reverse_stream):
        self.old_services = True        # the old services run on the monolith
        self.new_services = False       # the new services run on the new databases
        self.frozen = False             # the monolith refuses writes
        self.stream = False             # the reverse stream carries the new services' writes to the monolith
        self.reverse_stream = reverse_stream
        self.only_in_targets = False    # acknowledged writes the monolith does not hold (and no stream carried)
        self.carried = False            # acknowledged writes of the new services that the stream carried back

    def reach(self, point):
        order = machine.POINTS
        for step in order[1:order.index(point) + 1]:
            if step == "writes_stopped":
                self.old_services, self.frozen = False, True
            elif step == "services_starting":
                self.stream = self.reverse_stream  # recorded with the cutover, before any service starts
                self.new_services = True
                if self.stream:
                    self.carried = True
                else:
                    self.only_in_targets = True
        return self

    def take(self, route):
        if route == "return":
            self.stream, self.frozen, self.old_services = False, False, True
        elif route == "rollback":
            self.new_services = False
            self.only_in_targets = self.only_in_targets and not self.stream
            self.stream, self.frozen, self.old_services = False, False, True
        elif route == "forward":
            self.new_services = True
        return self

    def serving(self):
        old = self.old_services and not self.frozen
        return old != self.new_services  # exactly one side takes the writes

    def writes_kept(self):
        return not (self.old_services and self.only_in_targets)


def paths():
    for mode, phases in REACHABLE.items():
        for phase, points in phases.items():
            for point in points:
                for reverse in (True, False):
                    if mode == "online" and not reverse:
                        continue  # refused by the settings (test below)
                    causes = ["failure", "proof"] if point == "proving" else ["failure"]
                    for cause in causes:
                        yield mode, phase, point, reverse, cause


@pytest.mark.parametrize("mode, phase, point, reverse, cause", list(paths()))
def test_every_failure_point_ends_serving_and_keeps_every_acknowledged_write(mode, phase, point, reverse, cause):
    route = machine.failure_route(point, reverse, "return", cause=cause)
    assert route["route"] in machine.ROUTES and route["why"]
    platform = Platform(reverse).reach(point).take(route["route"])
    assert platform.serving(), (mode, phase, point, route)
    assert platform.writes_kept(), (mode, phase, point, route)


@pytest.mark.parametrize("mode, phase, point, reverse, cause", list(paths()))
def test_the_operator_who_asks_to_stay_gets_the_platform_left_as_it_stopped(mode, phase, point, reverse, cause):
    route = machine.failure_route(point, reverse, "stay", cause=cause)["route"]
    assert route == ("none" if point == "serving" else "stay")
    platform = Platform(reverse).reach(point).take(route)
    assert platform.writes_kept()


@pytest.mark.parametrize("point", machine.POINTS)
def test_a_check_run_is_sent_nowhere(point):
    assert machine.failure_route(point, True, "return", check_mode=True)["route"] == "none"


def test_the_nine_routes_of_the_issue():
    route = machine.failure_route
    # Before any new service ran, back to the monolith (it holds every write).
    assert route("writes_stopped", True)["route"] == "return"
    assert route("writes_stopped", False)["route"] == "return"
    # A health-check timeout at compose up after the cutover record (case 3), or an error about
    # their database in the services' logs (case 2): back through the reverse stream.
    assert route("services_starting", True)["route"] == "rollback"
    # Without the reverse stream, going back would lose what they wrote: forward.
    assert route("services_starting", False)["route"] == "forward"
    # Only nginx or the frontend failed: the backend serves, checked.
    assert route("stack_starting", True)["route"] == "forward"
    # The online proof found a difference (case 1): back through the reverse stream.
    assert route("proving", True, cause="proof")["route"] == "rollback"
    assert "the proof found a difference" in route("proving", True, cause="proof")["why"]


def test_a_rollback_that_fails_goes_where_its_writes_are():
    route = machine.failure_route
    assert route("serving", True, operation="rollback")["route"] == "none"
    # The new services are stopped, the monolith is frozen, the stream kept: they start again.
    assert route("targets_stopped", True, operation="rollback")["route"] == "forward"
    assert route("targets_stopped", False, operation="rollback")["route"] == "forward"
    # Every write is proven back: on to the monolith.
    assert route("monolith_proven", True, operation="rollback")["route"] == "return"
    assert route("targets_stopped", True, "stay", operation="rollback")["route"] == "stay"
    # Install, reset and finish have no way back of their own.
    assert route("services_starting", True, operation="reset")["route"] == "none"


def test_unknown_points_and_answers_are_bugs_not_routes():
    with pytest.raises(ValueError):
        machine.failure_route("services_started", True)
    with pytest.raises(ValueError):
        machine.failure_route("targets_stopped", True)  # a rollback point in a migration
    with pytest.raises(ValueError):
        machine.failure_route("writes_stopped", True, "maybe")


def test_the_roles_only_set_points_the_core_knows():
    found = set()
    for path in glob.glob(os.path.join(ROOT, "roles", "*", "tasks", "*.yml")):
        with open(path) as stream:
            # dbsplit_point: name, or "{{ 'name' if ... }}"; a value read from elsewhere is not a point set here.
            found.update(name for name in re.findall(r"dbsplit_point: (?:\"\{\{ )?'?([a-z_]+)", stream.read())
                         if not name.startswith("dbsplit_"))
    assert found, "no dbsplit_point set in the roles"
    assert found <= set(machine.POINTS) | set(machine.ROLLBACK_POINTS), found - set(machine.POINTS) - set(machine.ROLLBACK_POINTS)
    # Every point but the start is reached by some role.
    assert set(machine.POINTS[1:]) | set(machine.ROLLBACK_POINTS[1:]) <= found


def step(sequence, result, run_id="run-1"):
    return {"sequence": sequence, "run_id": run_id, "at": "2026-12-05T10:00:00Z", "result": result}


def progress_of(*phases, mode="offline", cutover=None):
    steps = {}
    results = {"preflight": {"dump_sha256": None}, "plan": {"plan": {"hash": "h1", "targets": []}}, "provision": {},
               "stop": {"mode": mode, "writes_stopped_at": 100.0}, "backup": {"manifest": {"id": "b1"}},
               "transfer": {"restores": {}}, "alembic": {"heads": {}}, "verify": {"tables": {"k": []}}}
    for number, phase in enumerate(phases, 1):
        steps[phase] = step(number, results[phase])
    if cutover is not None:
        steps["cutover"] = step(len(phases) + 1, cutover)
    return {"schema": machine.SCHEMA, "sequence": len(steps), "steps": steps}


ALL_BEFORE = ("preflight", "plan", "provision", "stop", "backup", "transfer", "alembic", "verify")


def test_where_a_run_starts_from():
    assert machine.start_point(progress_of()) == "serving"
    assert machine.start_point(progress_of("preflight", "plan")) == "serving"
    # Offline, an earlier run stopped the services and was killed, or stayed: a failure now returns.
    assert machine.start_point(progress_of("preflight", "plan", "stop")) == "writes_stopped"
    # Online, the services serve until the cutover stops them.
    assert machine.start_point(progress_of("preflight", "plan", "stop", mode="online")) == "serving"
    # A cutover an earlier run began: the new services may have written since.
    began = progress_of(*ALL_BEFORE, cutover={"started_at": "t0", "reverse_stream": True})
    assert machine.start_point(began) == "services_starting"
    done = progress_of(*ALL_BEFORE, cutover={"started_at": "t0", "reverse_stream": True, "completed_at": "t1"})
    assert machine.start_point(done) == "serving"
    # Any other playbook starts having changed nothing: a refusal must leave everything as it is.
    assert machine.start_point(done, "rollback") == "serving"
    assert machine.start_point(progress_of("preflight", "plan", "stop"), "rollback") == "serving"
    finished = progress_of(*ALL_BEFORE, cutover={"started_at": "t0", "completed_at": "t1"})
    finished["steps"]["finish"] = step(99, {"finished_at": "t2"})
    assert machine.start_point(finished, "rollback") == "serving"
    assert machine.failure_route(machine.start_point(finished, "rollback"), True, operation="rollback")["route"] == "none"
    assert machine.start_point(began, "reset") == "serving"


def test_a_resumed_cutover_keeps_what_the_first_attempt_chose():
    fresh = machine.cutover_start(progress_of(*ALL_BEFORE), reverse_stream=True, source_is_dump=False)
    assert fresh == {"began": False, "online": False, "reverse_stream": True, "writes_stopped_at": 100.0, "proof_job": "",
                     "proof_scan_after": "", "started_at": None}
    # Option A has no monolith to stream back to.
    assert not machine.cutover_start(progress_of(*ALL_BEFORE), True, True)["reverse_stream"]
    online = machine.cutover_start(progress_of(*ALL_BEFORE, mode="online"), True, False)
    assert online["online"] and online["writes_stopped_at"] is None  # known once this run stops the services
    began = progress_of(*ALL_BEFORE, cutover={"started_at": "t0", "reverse_stream": False, "writes_stopped_at": 90.0,
                                              "proof_job": "j1", "proof_scan_after": "/f"})
    resumed = machine.cutover_start(began, reverse_stream=True, source_is_dump=False)
    assert resumed == {"began": True, "online": False, "reverse_stream": False, "writes_stopped_at": 90.0,
                       "proof_job": "j1", "proof_scan_after": "/f", "started_at": "t0"}


def test_the_report_status_says_where_the_platform_went():
    progress = progress_of(*ALL_BEFORE)
    status = machine.report_status
    assert status(progress, "run-1", True) == "checked, nothing changed"
    assert status(progress, "run-1", False) == ("in progress: done preflight, plan, provision, stop, backup, transfer, alembic, "
                                                "verify; run migrate.yml again to go on")
    done = progress_of(*ALL_BEFORE, cutover={"started_at": "t0", "completed_at": "t1"})
    assert status(done, "run-1", False) == "migrated and verified"
    assert status(done, "run-2", False) == "already complete: nothing to do"
    failed = {"phase": "transfer", "route": "return"}
    assert status(progress, "run-1", False, failed) == "FAILED in phase transfer: the platform is back on the monolith"
    assert "rolled back to the monolith" in status(progress, "run-1", False, dict(failed, route="rollback"))
    assert "serves on the new databases" in status(progress, "run-1", False, dict(failed, route="forward"))
    assert "DOWN" in status(progress, "run-1", False, dict(failed, route="stay"))
    assert "DOWN" in status(progress, "run-1", False, dict(failed, route_error="no docker"))


def test_the_last_words_of_a_failed_run_say_where_the_platform_is_and_how_to_go_on():
    said = machine.failure_message({"phase": "transfer", "task": "restore", "route": "return", "downtime_seconds": 12.5},
                                   "yemma_db")
    assert said.startswith("phase transfer failed (restore): see the error above.")
    assert "The platform is back on the monolith: yemma_db thawed" in said and "after 12.5 s of write downtime" in said
    assert said.endswith("the phases already done are kept.")
    said = machine.failure_message(dict({"phase": "plan", "point": "serving"}, **machine.failure_route("serving", True)),
                                   "yemma_db")
    assert "Nothing was stopped" in said
    said = machine.failure_message({"phase": "cutover", "route": "rollback", "route_error": "catch-up timed out"}, "yemma_db")
    assert "it is DOWN" in said and "catch-up timed out" in said


def holder(host="this", pid=42):
    return {"run_id": "r-1", "playbook": "migrate.yml", "started": "t0", "owner": {"host": host, "pid": pid}}


def test_a_lock_is_broken_only_on_the_operators_word_and_never_while_its_run_is_seen_alive():
    verdict = machine.lock_verdict
    alive = {"alive": True, "evidence": "its process runs"}
    gone = {"alive": False, "evidence": "its process is gone"}
    unseen = {"alive": None, "evidence": "it was taken from controller other"}
    assert not verdict(holder(), alive, "r-1")["break"]
    assert not verdict(holder(), gone, False)["break"]
    assert verdict(holder(), gone, "true")["break"] and verdict(holder(), gone, True)["break"]
    # Case 6: a lock from another controller cannot be judged here; true is not enough.
    refused = verdict(holder("other", 7), unseen, True)
    assert not refused["break"] and "-e dbsplit_break_lock=r-1" in refused["message"] and "ps -p 7" in refused["message"]
    assert verdict(holder("other", 7), unseen, "r-1")["break"]
    assert not verdict(holder("other", 7), unseen, "r-0")["break"]


def test_online_mode_without_the_reverse_stream_is_refused_by_the_settings():
    with open(os.path.join(ROOT, "group_vars", "all", "main.yml")) as stream:
        defaults = yaml.safe_load(stream)
    assert settings.problems(dict(defaults, dbsplit_mode="online")) == []
    (problem,) = settings.problems(dict(defaults, dbsplit_mode="online", dbsplit_reverse_stream=False))
    assert "dbsplit_mode: online needs dbsplit_reverse_stream: true" in problem
    (problem,) = settings.problems(dict(defaults, dbsplit_mode="onlien"))
    assert "dbsplit_mode is 'onlien'" in problem


def test_the_recorded_view_reads_every_phase_through_one_accessor():
    began = progress_of(*ALL_BEFORE, cutover={"started_at": "t0", "reverse_stream": True})
    view = machine.recorded(began)
    assert view["stage"] == "cutover" and view["reverse_live"] and view["plan"]["hash"] == "h1"
    assert view["manifest"] == {"id": "b1"} and view["mode"] == "offline" and view["proof"] == {"k": []}
    assert view["runs"]["stop"]["run_id"] == "run-1" and view["returned"] == {}
    empty = machine.recorded({"sequence": 0, "steps": {}})
    assert empty["plan"] is None and empty["stage"] == "migrating" and empty["done"] == [] and not empty["reverse_live"]


def test_every_result_a_phase_hands_over_fits_its_schema():
    assert machine.check_result("stop", {"mode": "offline", "writes_stopped_at": 1.5}) == []
    assert machine.check_result("cutover", {"started_at": "t", "reverse_stream": True, "completed_at": "t2",
                                            "downtime_seconds": "7.3", "proof": None}) == []
    assert machine.check_result("stop", {"mode": "offline", "writes_stoped_at": 1.5})
    assert machine.check_result("nope", {})


def test_what_a_return_could_not_record_is_said_not_dropped():
    notes = machine.route_notes([{"failed": True, "msg": "cannot use the state in /s: [Errno 28] No space left on device"},
                                 {"changed": True, "unreachable": ["auth_db: connection refused"]}, {"skipped": True}, None])
    assert notes == ["not recorded: cannot use the state in /s: [Errno 28] No space left on device",
                     "not marked returned (the next migration refuses it until it is removed): auth_db: connection refused"]
    said = machine.failure_message({"phase": "backup", "route": "return", "downtime_seconds": 3.0, "notes": notes}, "yemma_db")
    assert "The platform is back on the monolith" in said and "Note: not recorded: cannot use the state" in said
