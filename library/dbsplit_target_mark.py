#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_target_mark
short_description: Mark a restored target database live, before services start on it
description:
  - At cutover, records in the target's database comment that services are about to write
    to it (state C(live)). From then on the target may hold writes the monolith never saw.
    M(dbsplit_restore) keeps it for the same plan and backup and refuses it otherwise, so
    migrating again after a rollback can never wipe it.
  - Only a target restored by this tool from the given plan and backup can be marked.
  - In check mode, reports whether the mark would change, without writing it.
options:
  plan_hash:
    description: Hash of the plan the target was restored from.
    type: str
    required: true
  backup_id:
    description: Id of the backup the target was restored from.
    type: str
    required: true
extends_documentation_fragment:
  - yemma.dbsplit.connection.TARGET
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: 9-cutover | Mark auth_db live before the auth service starts on it
  dbsplit_target_mark:
    target: "{{ dbsplit_endpoints.targets['auth_db'].connection }}"
    plan_hash: "{{ dbsplit_plan.hash }}"
    backup_id: "{{ dbsplit_manifest.id }}"
"""

RETURN = r"""
previous_state:
  description: The target's state before, C(restored) or C(live).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yemma.dbsplit.plugins.module_utils import pgconn, target


def main():
    module = AnsibleModule(
        argument_spec=dict(
            target=dict(type="dict", required=True, options=pgconn.CONNECTION_OPTIONS),
            plan_hash=dict(type="str", required=True),
            backup_id=dict(type="str", required=True),
        ),
        supports_check_mode=True,
    )
    psycopg = pgconn.import_psycopg(module)
    params = module.params
    database = params["target"]["db"]
    try:
        with pgconn.connect(psycopg, params["target"]) as conn:
            info = target.inspect(conn, params["target"]["tool_name"])
            ours = info["plan"] == params["plan_hash"] and info["backup"] == params["backup_id"]
            if not ours or info["state"] not in ("restored", "live"):
                module.fail_json(msg=f"target {database} is {info['state']} (plan {info['plan']}, backup "
                                     f"{info['backup']}), not restored from this plan and backup: run the "
                                     "transfer and verify phases first", target_state=info)
            changed = info["state"] != "live"
            if changed and not module.check_mode:
                target.set_marker(conn, params["target"]["tool_name"], params["plan_hash"], params["backup_id"], "live")
    except psycopg.Error as exc:
        module.fail_json(msg=f"cannot mark target {database} live: {exc}")
    module.exit_json(changed=changed, previous_state=info["state"])


if __name__ == "__main__":
    main()
