#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_state
short_description: The run lock of a migration on the host, and the run's progress
description:
  - The run lock is the file C(<state_dir>.lock), beside the state directory, so that a run
    refused before any change leaves no directory behind. It is created with C(O_EXCL), so
    of two runs started at once exactly one gets it.
  - The lock records its owner, the run id and the controller's host, ansible-playbook pid and
    that process's start time, so a later run can tell a live run from a killed one (see the
    C(yemma.dbsplit.lock_holder_alive) filter, evaluated on the controller).
  - "C(operation=read) only reads. C(lock) takes the lock, or reports who holds it; with
    O(break_run_id) it first breaks that exact lock (renamed aside), for a run the operator
    knows is dead. C(unlock) removes the lock only if O(run_id) holds it."
  - The progress is C(<state_dir>/state.json), the one record of what each phase did (its
    result - the plan, the backup manifest, restore figures, the verify proof, when writes
    stopped, the cutover), read once at the start of every run whatever its tags.
    C(operation=record) records O(phase)'s O(result); a phase that changed nothing and
    returns the same result keeps its place, so the phases built on it stay done (see
    C(yemma.dbsplit.phase_due)).
  - "C(operation=forget) removes the records of O(phases): a run that went back to the monolith
    before any new service ran forgets its stop and its cutover. C(retire) sets the migration's
    state aside (C(<state_dir>.rolled-back-<time>), its backup kept) after a rollback, and starts
    a new one that records O(returned), the new databases whose content is proven back in the
    monolith, so that the next migration rebuilds them."
  - The phases' results follow the schema of C(module_utils/machine) (RESULTS); a result that
    does not is refused before anything is written.
  - Taking and releasing the lock and recording progress is the tool's bookkeeping, not a
    change to the platform, so it is never reported as changed. In check mode nothing is
    written; C(record) returns the progress it would have written (see O(progress)).
options:
  state_dir:
    description: The tool's state directory on the host (C(dbsplit_state_dir)).
    type: path
    required: true
  operation:
    description: What to do.
    type: str
    choices: [read, lock, unlock, record, forget, retire]
    default: read
  run_id:
    description: This run's id (required by every operation but C(read)).
    type: str
  owner:
    description: "This run's controller, C({host, pid, pid_started}), from the C(yemma.dbsplit.controller) lookup
      (required by C(lock))."
    type: dict
  playbook:
    description: What runs (recorded in the lock for the operator), e.g. C(migrate.yml).
    type: str
    default: ""
  break_run_id:
    description: The run id of a lock to break before taking it (only that lock is broken).
    type: str
  phase:
    description: The phase whose result C(record) records.
    type: str
    choices: [preflight, plan, stop, backup, provision, transfer, alembic, verify, cutover, report, finish]
  result:
    description: What the phase did, as the phases after it need it (JSON-serialisable).
    type: dict
    default: {}
  changed:
    description: Whether the phase changed something; if so the phases built on it are due again.
    type: bool
    default: false
  phases:
    description: The phases whose records C(forget) removes.
    type: list
    elements: str
    default: []
  returned:
    description: For C(retire), per target key, the container or address that holds a new database proven back in the monolith.
    type: dict
    default: {}
  progress:
    description:
      - The run's progress so far (C(dbsplit_progress)). In check mode C(record) and C(forget)
        work on it in memory, since nothing is written, so the next phases of a check run plan
        from what the earlier ones would have recorded. Ignored otherwise.
    type: dict
attributes:
  check_mode:
    support: full
    description: Nothing is written and no lock is taken; C(record) and C(forget) return the progress they would have
      written, from O(progress).
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: 0-run | Take the run lock
  dbsplit_state:
    state_dir: /var/backups/yemma-dbsplit
    operation: lock
    run_id: 20261125T101500Z-yemma-vps
    owner: "{{ lookup('yemma.dbsplit.controller') }}"

- name: 5-backup | Record the backup for the phases that restore from it
  dbsplit_state:
    state_dir: /var/backups/yemma-dbsplit
    operation: record
    run_id: 20261125T101500Z-yemma-vps
    phase: backup
    result: {manifest: "{{ backup.manifest }}"}
    changed: true
"""

RETURN = r"""
lock:
  description: The lock's holder after the task, C({run_id, owner, playbook, started}), or C({}) when free.
  returned: always
  type: dict
  sample:
    run_id: 20261125T101500Z-yemma-vps
    owner: {host: ops-laptop, pid: 48213, pid_started: 91234567}
    playbook: migrate.yml
    started: "2026-11-25T10:15:02Z"
acquired:
  description: Whether this run holds the lock after the task.
  returned: when O(operation=lock)
  type: bool
  sample: true
progress:
  description: "The run's progress after the task, C({schema, sequence, steps: {phase: {sequence, run_id, at, result}}, returned})."
  returned: always
  type: dict
  sample:
    schema: 2
    sequence: 2
    steps:
      preflight: {sequence: 1, run_id: 20261125T101500Z-yemma-vps, at: "2026-11-25T10:15:09Z",
                  result: {dump_sha256: null}}
      stop: {sequence: 2, run_id: 20261125T101500Z-yemma-vps, at: "2026-11-25T10:16:40Z",
             result: {mode: offline, writes_stopped_at: 1795601800.2}}
forgotten:
  description: The phases whose records C(forget) removed.
  returned: when O(operation=forget)
  type: list
  elements: str
  sample: [stop, cutover]
retired_to:
  description: Where C(retire) set the migration's state aside.
  returned: when O(operation=retire)
  type: str
  sample: /var/backups/yemma-dbsplit.rolled-back-20261125T113000Z
recorded:
  description: Whether C(record) gave the phase a new place in the sequence.
  returned: when O(operation=record)
  type: bool
  sample: true
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yemma.dbsplit.plugins.module_utils import machine, state


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state_dir=dict(type="path", required=True),
            operation=dict(type="str", choices=["read", "lock", "unlock", "record", "forget", "retire"], default="read"),
            run_id=dict(type="str"),
            owner=dict(type="dict"),
            playbook=dict(type="str", default=""),
            break_run_id=dict(type="str"),
            phase=dict(type="str", choices=list(machine.PHASES) + [machine.FINISH]),
            result=dict(type="dict", default={}),
            changed=dict(type="bool", default=False),
            phases=dict(type="list", elements="str", default=[]),
            returned=dict(type="dict", default={}),
            progress=dict(type="dict"),
        ),
        required_if=[("operation", "lock", ("run_id", "owner")), ("operation", "unlock", ("run_id",)),
                     ("operation", "record", ("run_id", "phase")), ("operation", "forget", ("run_id",)),
                     ("operation", "retire", ("run_id",))],
        supports_check_mode=True,
    )
    p = module.params
    try:
        holder = state.read_lock(p["state_dir"]) or {}
        progress = state.read_progress(p["state_dir"])
        if p["operation"] == "record":
            # A check run holds no lock; it gets the progress the record would give, unwritten.
            if holder.get("run_id") != p["run_id"] and not module.check_mode:
                module.fail_json(msg=f"run {p['run_id']} does not hold the lock {state.lock_path(p['state_dir'])} "
                                     f"(held by {holder.get('run_id', 'nobody')}): its progress is not recorded")
            progress, recorded = state.record(p["state_dir"], p["phase"], p["run_id"], p["result"], p["changed"],
                                              unwritten=p["progress"] if module.check_mode else None)
            module.exit_json(changed=False, lock=holder, progress=progress, recorded=recorded)
        if p["operation"] in ("forget", "retire") and holder.get("run_id") != p["run_id"] and not module.check_mode:
            module.fail_json(msg=f"run {p['run_id']} does not hold the lock {state.lock_path(p['state_dir'])} "
                                 f"(held by {holder.get('run_id', 'nobody')}): the progress is left as it is")
        if p["operation"] == "forget":
            progress, gone = state.forget(p["state_dir"], p["phases"], unwritten=p["progress"] if module.check_mode else None)
            module.exit_json(changed=False, lock=holder, progress=progress, forgotten=gone)
        if p["operation"] == "retire":
            if module.check_mode:
                module.exit_json(changed=False, lock=holder, progress=progress, retired_to="")
            aside = state.retire(p["state_dir"], p["returned"])
            module.exit_json(changed=False, lock=holder, progress=state.read_progress(p["state_dir"]), retired_to=aside)
        if p["operation"] == "read" or module.check_mode:
            module.exit_json(changed=False, lock=holder, acquired=holder.get("run_id") == p["run_id"],
                             progress=progress)
        if p["operation"] == "lock":
            owner = {"run_id": p["run_id"], "owner": p["owner"], "playbook": p["playbook"],
                     "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            acquired, holder = state.acquire(p["state_dir"], owner, p["break_run_id"])
            module.exit_json(changed=False, lock=holder or {}, acquired=acquired, progress=progress)
        state.release(p["state_dir"], p["run_id"])
        module.exit_json(changed=False, lock=state.read_lock(p["state_dir"]) or {}, progress=progress)
    except (OSError, state.StateError) as exc:
        module.fail_json(msg=f"cannot use the state in {p['state_dir']}: {exc}")


if __name__ == "__main__":
    main()
