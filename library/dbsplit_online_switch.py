#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_online_switch
short_description: "Online mode: every target switched off the monolith at once, inside the cutover's downtime"
description:
  - Runs O(stop_command) (the old services' stop) alongside and freezes the monolith at once (as
    M(dbsplit_freeze) C(frozen) does, proven from a new session; the freeze ends every session and refuses
    every write, so a service still stopping cannot write), then does for every target at once (a thread
    each, one task for the whole cutover, since every second here is downtime), in this order.
  - Waits until the target applied every change up to the monolith's current WAL position (at most
    O(timeout) seconds) and had copied every table.
  - Fails, naming the table and what changed, when a published table's schema changed on the monolith
    since the copy began.
  - Carries the monolith's sequences to the target and reads them back, and its large objects when the
    plan gives them to this target.
  - Removes the online copy from both ends (the target's subscription and its slot, the monolith's
    publication) and puts C(REPLICA IDENTITY DEFAULT) back on the monolith's O(full_identity) tables.
  - With O(reverse_stream), starts the reverse stream (M(dbsplit_reverse_stream) C(present)), the two
    streams never running at once, since opposite subscriptions would send every change back and forth.
  - A target an earlier run switched (its online copy gone, its reverse stream running) is left as it is,
    since the new services may have written to it since.
  - Every target is tried even when another fails; the task then fails with each failure, naming its target.
  - Returns only once O(stop_command) has ended, whatever happened (a failure's route may then start the old
    services again), and fails when it failed.
  - Reports what it would change in check mode, freezing nothing and waiting for nothing.
requirements:
  - psycopg >= 3.1 (psycopg 3, python3-psycopg on Debian 12) for the managed host's Python
options:
  stop_command:
    description:
      - The command (argv, no shell) that stops the old services, run alongside the freeze and the switch and
        waited for (at most O(stop_timeout) seconds). The compose CLI rather than a compose module task, since
        a task of its own would cost the downtime its round trip and its run.
    type: list
    elements: str
  stop_chdir:
    description: The directory O(stop_command) runs in.
    type: path
  stop_timeout:
    description: How long O(stop_command) may take, in seconds.
    type: int
    default: 360
  full_identity:
    description: Tables (as the plan names them) that have C(REPLICA IDENTITY FULL) for want of a primary key.
    type: list
    elements: str
    default: []
  reverse_stream:
    description: Start each target's reverse stream to the monolith once its online copy is gone.
    type: bool
    default: true
  timeout:
    description: How long each target may take to apply the last changes, in seconds.
    type: int
    default: 120
  done_file:
    description: File written once every target is switched (what M(dbsplit_snapshot_proof) waits for).
    type: path
  ready_file:
    description:
      - File M(dbsplit_snapshot_proof) writes once it holds its snapshots. Waited for after I(done_file) is written,
        since no service may write before (up to I(timeout) seconds).
    type: path
  plan_hash:
    description: With I(backup_id), mark each switched target live (as M(dbsplit_target_mark) does), in the same task.
    type: str
  backup_id:
    description: The backup the targets were restored from (their schema, online).
    type: str
  planned_tables:
    description:
      - Every table, partition and table left behind of the plan. Once the monolith is frozen, before any target is
        switched, the task fails when the monolith has a table that is none of them (created after the plan was read).
    type: list
    elements: str
extends_documentation_fragment:
  - yemma.dbsplit.connection.SOURCE
  - yemma.dbsplit.connection.TARGETS_RUNTIME
attributes:
  check_mode:
    support: full
    description: Reports what it would change, freezing nothing and waiting for nothing.
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: 9-cutover | Stop the services and switch every target off the monolith
  dbsplit_online_switch:
    stop_command: [docker, compose, -p, yemma, -f, docker-compose.monolith.yml, stop, auth, payment]
    stop_chdir: /srv/yemma
    source: "{{ dbsplit_endpoints.source.connection }}"
    targets: "{{ dbsplit_cutover_plan.targets | yemma.dbsplit.with_endpoints(dbsplit_endpoints.targets, 'runtime') }}"
    full_identity: "{{ dbsplit_replica_identity_full }}"
    reverse_stream: true
    timeout: 120
"""

RETURN = r"""
targets:
  description:
    - "Per target label C({waited_seconds, sequences, large_objects, removed, reverse_stream, seconds}): how long it
      waited for the last changes, the sequences set (C({sequence, from, to})), the large objects created, rewritten
      or removed (C({oid, action})), whether its online copy was removed and its reverse stream started by this run,
      and the seconds of each step (catch_up, remove, reverse_stream, mark_live)."
    - With O(plan_hash), also C(marked_live), whether this run marked it live.
  returned: always
  type: dict
  sample:
    payment_db:
      waited_seconds: 0.4
      sequences: [{sequence: public.payments_id_seq, from: 1204, to: 1212}]
      large_objects: []
      removed: true
      reverse_stream: true
      marked_live: true
      seconds: {catch_up: 0.52, remove: 0.11, reverse_stream: 0.3, mark_live: 0.01}
seconds:
  description:
    - Seconds of each step, in order (they are write downtime) - freeze (with the check for unplanned tables),
      switch (every target at once), proof_ready (waiting for the proof's snapshots), services_stopped (waiting for
      O(stop_command) after that).
  returned: always
  type: dict
  sample: {freeze: 0.12, switch: 0.9, proof_ready: 0.2, services_stopped: 0.1}
terminated_sessions:
  description: Sessions of the monolith ended by the freeze (opened before it, they could have written).
  returned: always
  type: int
  sample: 2
"""

import json

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yemma.dbsplit.plugins.module_utils import freeze, online, pgconn


def switch_all(module, psycopg, params, clock):
    """Freeze and switch; returns (result, failure message or None)."""
    try:
        froze, ended = online.freeze_monolith(psycopg, params["source"], module.check_mode)
        if params["planned_tables"] is not None:
            with pgconn.connect(psycopg, params["source"]) as conn:
                unplanned = freeze.unplanned_tables(conn, params["planned_tables"])
            if unplanned:
                return ({"unplanned_tables": unplanned, "changed": froze},
                        freeze.unplanned_problem(params["source"]["db"], unplanned) + "; no target was switched")
    except (psycopg.Error, freeze.FreezeError) as exc:
        return {"changed": False}, f"cannot freeze {params['source']['db']}: {exc}"
    clock.lap("freeze")
    live_mark = (params["plan_hash"], params["backup_id"]) if params["plan_hash"] else None
    done, failures = online.switch(psycopg, params["source"], params["targets"], params["full_identity"],
                                   params["reverse_stream"], params["timeout"], module.check_mode, live_mark)
    clock.lap("switch")
    changed = froze or any(figures["sequences"] or figures["large_objects"] or figures["removed"]
                           or figures["reverse_stream"] for figures in done.values())
    result = {"changed": changed, "targets": done, "terminated_sessions": ended}
    if failures:
        return result, "the switch off the monolith failed for:\n- " + "\n- ".join(failures)
    if params["done_file"] and not module.check_mode:
        with open(params["done_file"], "w") as switched:
            json.dump(done, switched)
        if params["ready_file"] and not online.wait_for_file(params["ready_file"], params["timeout"]):
            return result, (f"the proof did not take its snapshots within {params['timeout']} s "
                            f"({params['ready_file']} missing): no service may start before")
        clock.lap("proof_ready")
    return result, None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            source=dict(type="dict", required=True, options=pgconn.CONNECTION_OPTIONS),
            targets=pgconn.targets_option(pgconn.RUNTIME_OPTIONS),
            stop_command=dict(type="list", elements="str"),
            stop_chdir=dict(type="path"),
            stop_timeout=dict(type="int", default=360),
            full_identity=dict(type="list", elements="str", default=[]),
            reverse_stream=dict(type="bool", default=True),
            timeout=dict(type="int", default=120),
            done_file=dict(type="path"),
            ready_file=dict(type="path"),
            plan_hash=dict(type="str"),
            backup_id=dict(type="str"),
            planned_tables=dict(type="list", elements="str"),
        ),
        required_together=[("plan_hash", "backup_id")],
        supports_check_mode=True,
    )
    psycopg = pgconn.import_psycopg(module)
    params = module.params
    clock = online.Stopwatch()
    stopping = None
    if params["stop_command"] and not module.check_mode:
        stopping = online.Alongside(params["stop_command"], params["stop_chdir"])
    try:
        result, failure = switch_all(module, psycopg, params, clock)
    finally:
        stop_failure = stopping.wait(params["stop_timeout"]) if stopping else None
    if stopping:
        clock.lap("services_stopped")
    result["seconds"] = clock.laps
    if stop_failure:
        failure = "; ".join(filter(None, [failure, f"the services' stop failed: {stop_failure}"]))
    if failure:
        module.fail_json(msg=failure, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
