"""Filters of the run's lock and progress (roles/run):

- ``lock_holder_alive``: is the run that holds the lock still running? Evaluated on the
  controller, where the lock's owner process ran: the evidence an operator needs before
  breaking a lock.
- ``selected_phases``: the phases a run's tags select.
- ``phase_due``, ``run_refusals``, ``recorded``, ``failure_route``, ``cutover_start``,
  ``report_status``: the decisions of the run's state machine (module_utils/machine), for the plays.
- ``version_problems``: a source or target on a PostgreSQL version this tool is not proven on
  (plugin_utils/versions).
- ``settings_problems``, ``compose_problems``, ``service_database_problems``,
  ``compose_images``, ``image_problems``: the settings checked as data, and against the
  compose files and the host's images (module_utils/settings).
"""

import socket

from ansible_collections.yemma.dbsplit.plugins.lookup.controller import process_start
from ansible_collections.yemma.dbsplit.plugins.module_utils import machine
from ansible_collections.yemma.dbsplit.plugins.plugin_utils import settings, versions


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


def start_point(progress, operation="migrate"):
    return machine.start_point(progress, operation)


def failure_route(point, reverse_stream, on_failure="return", check_mode=False, operation="migrate", cause="failure"):
    return machine.failure_route(point, reverse_stream, on_failure, check_mode, operation, cause)


def cutover_start(progress, reverse_stream, source_is_dump):
    return machine.cutover_start(progress, reverse_stream, source_is_dump)


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


def report_status(progress, run_id, check_mode, failure=None):
    return machine.report_status(progress, run_id, check_mode, failure or None)


def version_problems(endpoints, source_database, source_version, target_states, image_versions):
    """The version refusals of the preflight: the source as its server reports it; each new
    database as its running server reports it (dbsplit_target_info), else as its compose
    service's image does (dbsplit_host_info), since provision has not started it yet."""
    servers = [{"what": f"the source {source_database}", "version": source_version, "where": endpoints["source"]["id"]}]
    for key, target in sorted(endpoints["targets"].items()):
        running = (target_states.get(key) or {}).get("server_version")
        image = image_versions.get(target.get("compose_service") or "")
        servers.append({"what": f"the new database {target['label']}", "version": running or image,
                        "where": target["id"] if running else f"the image of compose service {target.get('compose_service')}"})
    return versions.problems(servers)


def settings_problems(variables):
    return settings.problems(variables)


def compose_problems(services, source, backend, infrastructure, project, new_stack, old_stack):
    return settings.compose_problems(services, source, backend, infrastructure, project, new_stack, old_stack)


def service_database_problems(services, stack, env_keys, user, compose_file):
    return settings.service_database_problems(services, stack, env_keys, user, compose_file)


def compose_images(stacks, project):
    return settings.compose_images(project, stacks)


def image_problems(images, present):
    return settings.image_problems(images, present)


def database_clients(stack, services, service, env_keys):
    return settings.database_clients(stack, services, service, env_keys)


def services_sharing(services, service):
    return settings.services_sharing(services, service)


class FilterModule:
    def filters(self):
        return {"lock_holder_alive": lock_holder_alive, "selected_phases": selected_phases, "phase_due": phase_due,
                "run_refusals": run_refusals, "recorded": recorded, "failure_route": failure_route, "start_point": start_point,
                "cutover_start": cutover_start, "report_status": report_status, "lock_verdict": lock_verdict, "rollback_warning": rollback_warning,
                "new_database_clients": new_database_clients, "failure_message": failure_message,
                "version_problems": version_problems, "settings_problems": settings_problems, "compose_problems": compose_problems,
                "service_database_problems": service_database_problems, "compose_images": compose_images, "image_problems": image_problems,
                "database_clients": database_clients, "services_sharing": services_sharing}
