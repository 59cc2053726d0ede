"""Filters of the run's lock and progress (roles/run):

- ``lock_holder_alive``: is the run that holds the lock still running? Evaluated on the
  controller, where the lock's owner process ran: the evidence an operator needs before
  breaking a lock.
- ``selected_phases``: the phases a run's tags select.
- ``phase_due``, ``run_refusals``, ``recorded``, ``failure_route``, ``cutover_start``,
  ``report_status``: the decisions of the run's state machine (module_utils/machine), for the plays.
- ``preflight_findings``, ``dump_host_findings``, ``preflight_summary``: every problem and
  warning of the preflight, from what its tasks read (plugin_utils/preflight).
- ``start_refusals``, ``database_clients``, ``services_sharing``, ``new_database_clients``:
  the settings checked as data, and who uses which database (plugin_utils/settings).
"""

import socket

from ansible_collections.yemma.dbsplit.plugins.lookup.controller import process_start
from ansible_collections.yemma.dbsplit.plugins.module_utils import machine, verify
from ansible_collections.yemma.dbsplit.plugins.plugin_utils import preflight, reset, rollback, settings


def lock_holder_alive(holder):
    """{"alive": true|false|null, "evidence": "..."} for a lock holder's recorded owner."""
    owner = (holder or {}).get("owner", {})
    host, pid = owner.get("host"), owner.get("pid")
    if host != socket.gethostname():
        return {"alive": None, "evidence": f"it was taken from controller {host}, so this controller "
                                           f"({socket.gethostname()}) cannot see whether its process {pid} still runs"}
    started = process_start(pid)
    if started is None:
        return {"alive": False, "evidence": f"its ansible-playbook process (pid {pid} on {host}) no longer exists"}
    if started != owner.get("pid_started"):
        return {"alive": False, "evidence": f"its ansible-playbook process (pid {pid} on {host}) is gone: that pid "
                                            "now belongs to a process started later"}
    return {"alive": True, "evidence": f"its ansible-playbook process (pid {pid} on {host}) is still running"}


def selected_phases(run_tags, skip_tags=()):
    """The phases that ``--tags`` / ``--skip-tags`` select; each phase's play is tagged with
    its name and ``phase<n>``."""
    def named(tags, phase, number):
        return phase in tags or f"phase{number}" in tags
    return [phase for number, phase in enumerate(machine.PHASES, 1)
            if ("all" in run_tags or named(run_tags, phase, number)) and not named(skip_tags, phase, number)]


def phase_due(progress, phase):
    return machine.due(progress, phase)


def run_refusals(progress, selected, source_is_dump=False):
    return machine.refusals(progress, selected, source_is_dump)


def recorded(progress):
    """What the phases recorded, as every phase reads it (machine.recorded)."""
    return machine.recorded(progress)


def failure_routed(seen):
    """The failure as a run saw it ({phase, task, message, point, reverse_stream, on_failure,
    check_mode, operation, cause}) with the route the core chose for it ({route, why})."""
    return machine.failure_record(seen)


def phase_refusals(phase, recorded, endpoints, check_mode, compose_file):
    """machine.phase_refusals, with what the recorded proof does not cover of the plan."""
    gaps = []
    if phase == "cutover" and recorded["plan"] and recorded["stage"] == "migrating":
        gaps = verify.proof_gaps(recorded["plan"], (recorded["manifest"] or {}).get("id"), recorded["verify"])
    return machine.phase_refusals(phase, recorded, endpoints["targets"], check_mode, compose_file, gaps)


def start_point(progress, operation="migrate"):
    return machine.start_point(progress, operation)


def failure_route(point, reverse_stream, on_failure="return", check_mode=False, operation="migrate", cause="failure"):
    return machine.failure_route(point, reverse_stream, on_failure, check_mode, operation, cause)


def cutover_start(progress, reverse_stream, source_is_dump):
    return machine.cutover_start(progress, reverse_stream, source_is_dump)


def route_notes(results):
    return machine.route_notes(results)


def failure_message(failure, source_database, playbook="migrate.yml"):
    return machine.failure_message(failure, source_database, playbook)


def rollback_warning(view, source_database, services):
    databases = sorted({spec["endpoint"]["database"] for spec in services.values()})
    return machine.rollback_warning(view, source_database, databases)


def new_database_clients(stack, services, env_keys, backend):
    return settings.new_database_clients(stack, services, env_keys, backend)


def lock_verdict(holder, answer):
    """machine.lock_verdict, with the holder's liveness as this controller sees it."""
    return machine.lock_verdict(holder, lock_holder_alive(holder), answer)


def reset_refusals(service, services, recorded, endpoints, environment, compose_file, from_backup):
    return reset.refusals(service, services, recorded, endpoints, environment, compose_file, from_backup)


def reset_backup_refusals(manifest, archive_stat, source_database, source_running, frozen):
    return reset.backup_refusals(manifest, archive_stat, source_database, source_running, frozen)


def rollback_refusals(settings_, reads):
    """rollback.yml's refusals; ``reads``: recorded, endpoints, orphans, host_problems, lost, rebuild_begun, archive."""
    return rollback.refusals(settings_, reads["recorded"], reads["endpoints"], reads["orphans"], reads["host_problems"],
                             reads["lost"], reads["rebuild_begun"], reads["archive"])


def rollback_orphans_refusal(orphans, source_database, compose_file):
    return rollback.orphans_after_catch_up(orphans, source_database, compose_file)


def rollback_proof(verified, reads, settings_):
    """The rollback's proof from reverse.yml's reads ({applied, caught_up}: module results, or {}
    when skipped, and stopped_at) and the operator's answer on orphans."""
    return rollback.proof(verified, reads["applied"].get("streams", []), reads["caught_up"].get("streams", []),
                          settings_["accept_orphans"], reads["stopped_at"])


def rollback_summary(settings_, recorded, proven, downtime, lost, rebuilt):
    return rollback.summary(settings_, recorded, proven, downtime, lost, rebuilt)


def lost_volumes(results):
    return rollback.lost_volumes(results)


def reset_losses(found, from_backup):
    return reset.losses(found, from_backup)


def reset_losses_refusal(replaced, label, stage, cutover_started_at, view_lines):
    return reset.losses_refusal(replaced, label, stage, cutover_started_at, view_lines)


def reset_warning(clients, label, services, filled_from, source_database):
    return reset.warning(clients, label, services, filled_from, source_database)


def reset_view(found, from_backup):
    return reset.view(found, from_backup)


def reset_summary(report):
    return reset.summary(report)


def report_status(progress, run_id, check_mode, failure=None):
    return machine.report_status(progress, run_id, check_mode, failure or None)


def dump_host_findings(host, settings_, env_keys):
    """Option A: the problems that keep the preflight from starting the dump's scratch server."""
    return preflight.host_findings(settings_, host, env_keys) + preflight.dump_findings(settings_, host)


def preflight_findings(host, settings_, env_keys, endpoints, recorded, reads):
    return preflight.findings(settings_, host, env_keys, endpoints, recorded, reads)


def install_findings(host, settings_, reads):
    """install.yml's problems; ``reads``: env_keys, endpoints, recorded, monolith, targets, environment."""
    return preflight.install_findings(settings_, host, reads["env_keys"], reads["endpoints"], reads["recorded"],
                                      reads["monolith"], reads["targets"], reads["environment"])


def preflight_summary(found):
    return preflight.summary(found)


def setting_names(candidates):
    return settings.setting_names(candidates)


def start_refusals(variables, run):
    """What stops a run before it takes the lock: not exactly one environment named with -l, and
    the settings as data. ``run``: limited, environments, known, hosts, playbook."""
    found = settings.problems(variables)
    return (settings.environment_problems(run["limited"], run["environments"], run["known"], run["hosts"], run["playbook"])
            + ([f"the settings have {len(found)} problem(s); nothing was changed:"] + found if found else []))


def database_clients(stack, services, service, env_keys):
    return settings.database_clients(stack, services, service, env_keys)


def services_sharing(services, service):
    return settings.services_sharing(services, service)


class FilterModule:
    def filters(self):
        return {"lock_holder_alive": lock_holder_alive, "selected_phases": selected_phases, "phase_due": phase_due,
                "run_refusals": run_refusals, "recorded": recorded, "failure_route": failure_route, "failure_routed": failure_routed, "phase_refusals": phase_refusals, "start_point": start_point,
                "cutover_start": cutover_start, "report_status": report_status, "rollback_refusals": rollback_refusals,
                "rollback_orphans_refusal": rollback_orphans_refusal, "rollback_proof": rollback_proof,
                "rollback_summary": rollback_summary, "lost_volumes": lost_volumes, "reset_refusals": reset_refusals,
                "reset_backup_refusals": reset_backup_refusals, "reset_losses": reset_losses,
                "reset_losses_refusal": reset_losses_refusal, "reset_warning": reset_warning, "reset_view": reset_view, "reset_summary": reset_summary, "lock_verdict": lock_verdict, "rollback_warning": rollback_warning,
                "new_database_clients": new_database_clients, "failure_message": failure_message, "route_notes": route_notes,
                "preflight_findings": preflight_findings, "dump_host_findings": dump_host_findings,
                "preflight_summary": preflight_summary, "install_findings": install_findings, "start_refusals": start_refusals, "setting_names": setting_names, "database_clients": database_clients, "services_sharing": services_sharing}
