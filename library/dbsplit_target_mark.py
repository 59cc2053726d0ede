#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_target_mark
short_description: Mark target databases live before services start on them, or returned once their content is the monolith's
description:
  - At cutover, records in each target's database comment that services are about to write
    to it (state C(live)), every target in one task. From then on the target may hold writes the monolith never saw.
    M(dbsplit_restore) keeps it for the same plan and backup and refuses it otherwise, so
    migrating again after a rollback can never wipe it.
  - Only a target restored by this tool from the given plan and backup can be marked; the task fails
    before marking any target when one is not.
  - "With O(state=returned), marks every reachable target that this tool marked (restored or live)
    as C(returned): its content is the monolith's (no service wrote to it, or a rollback proved
    every write back), so the next migration rebuilds it instead of refusing it. A target that
    cannot be reached is left as it is and named in RV(unreachable)."
  - In check mode, reports whether the mark would change, without writing it.
requirements:
  - psycopg >= 3.1 (psycopg 3, python3-psycopg on Debian 12) for the managed host's Python
options:
  state:
    description: The mark to set.
    type: str
    choices: [live, returned]
    default: live
  plan_hash:
    description: Hash of the plan the target was restored from (required to mark it live).
    type: str
  backup_id:
    description: Id of the backup the target was restored from (required to mark it live).
    type: str
extends_documentation_fragment:
  - yemma.dbsplit.connection.TARGETS
attributes:
  check_mode:
    support: full
    description: Reports whether the mark would change, without writing it.
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: 9-cutover | Mark every target live before a service starts on it
  dbsplit_target_mark:
    targets: "{{ dbsplit_plan.targets | yemma.dbsplit.with_endpoints(dbsplit_endpoints.targets, 'connection') }}"
    plan_hash: "{{ dbsplit_plan.hash }}"
    backup_id: "{{ dbsplit_manifest.id }}"
"""

RETURN = r"""
previous_states:
  description: Per target label, its state before (C(restored), C(live), C(returned)...).
  returned: always
  type: dict
  sample: {auth_db: restored}
unreachable:
  description: With O(state=returned), the targets that could not be reached, each with why.
  returned: always
  type: list
  elements: str
  sample: ['auth_db: connection failed: connection to server at "172.18.0.5", port 5432 failed: Connection refused']
"""

from contextlib import ExitStack

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yemma.dbsplit.plugins.module_utils import pgconn, target


def main():
    module = AnsibleModule(
        argument_spec=dict(
            targets=pgconn.targets_option(pgconn.CONNECTION_OPTIONS),
            plan_hash=dict(type="str"),
            backup_id=dict(type="str"),
            state=dict(type="str", choices=["live", "returned"], default="live"),
        ),
        required_if=[("state", "live", ("plan_hash", "backup_id"))],
        supports_check_mode=True,
    )
    psycopg = pgconn.import_psycopg(module)
    params = module.params
    if params["state"] == "returned":
        previous, unreachable = {}, []
        for spec in params["targets"]:
            label, endpoint = spec["plan"]["label"], spec["endpoint"]
            try:
                with pgconn.connect(psycopg, endpoint) as conn:
                    previous[label] = target.mark_returned(conn, endpoint["tool_name"], module.check_mode)
            except psycopg.Error as exc:
                unreachable.append(f"{label}: {str(exc).strip()}")
        module.exit_json(changed=any(state in target.RETURNABLE for state in previous.values()), previous_states=previous,
                         unreachable=unreachable)
    previous = {}
    try:
        with ExitStack() as opened:
            connections = [(spec["plan"]["label"], spec["endpoint"],
                            opened.enter_context(pgconn.connect(psycopg, spec["endpoint"])))
                           for spec in params["targets"]]
            for label, endpoint, conn in connections:
                info = target.inspect(conn, endpoint["tool_name"])
                problem = target.not_markable(info, params["plan_hash"], params["backup_id"])
                if problem:
                    module.fail_json(msg=f"target {endpoint['db']} {problem}; no target was marked", target_state=info)
                previous[label] = info["state"]
            if not module.check_mode:
                for label, endpoint, conn in connections:
                    if previous[label] != "live":
                        target.set_marker(conn, endpoint["tool_name"], params["plan_hash"], params["backup_id"], "live")
    except psycopg.Error as exc:
        module.fail_json(msg=f"cannot mark the targets live: {exc}")
    module.exit_json(changed=any(state != "live" for state in previous.values()), previous_states=previous, unreachable=[])


if __name__ == "__main__":
    main()
