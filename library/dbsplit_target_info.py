#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_target_info
short_description: Tell whether a target database can receive a restore
description:
  - Reads a target database's state, C(empty), C(restoring) (left half-restored by a
    killed run), C(restored) (by this tool, with the plan and backup it came from),
    C(live) (services started on it at cutover) or C(foreign) (holds objects this tool
    did not restore), and what a transfer would do.
  - A target that refuses the login (a wrong password, a missing database) is C(unreachable)
    and refused, with the fix, so that the preflight lists it with the other problems.
  - Only reads, so it runs in check mode too.
options:
  plan_hash:
    description: Hash of the plan about to run.
    type: str
    required: true
  backup_id:
    description: Id of the backup about to be restored, if known.
    type: str
extends_documentation_fragment:
  - yemma.dbsplit.connection.TARGET
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: 1-preflight | Check that auth_db is empty or ours
  dbsplit_target_info:
    target: "{{ dbsplit_target_connections['auth_db'] }}"
    plan_hash: "{{ plan.hash }}"
"""

RETURN = r"""
state:
  description: C(empty), C(restoring), C(restored), C(live), C(foreign) or C(unreachable).
  returned: always
  type: str
action:
  description: What a transfer would do, C(restore), C(rebuild), C(keep) or C(refuse).
  returned: always
  type: str
problem:
  description: Why the target is refused, with the fix; null otherwise.
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
            backup_id=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    psycopg = pgconn.import_psycopg(module)
    params = module.params["target"]
    try:
        conn = pgconn.connect(psycopg, params)
    except psycopg.OperationalError as exc:
        module.exit_json(changed=False, state="unreachable", objects=None, plan=None, backup=None, action="refuse",
                         problem=target.login_refused(params["login_user"], params["db"], exc))
    try:
        with conn:
            info = target.inspect(conn, params["tool_name"])
    except psycopg.Error as exc:
        module.fail_json(msg=f"cannot read target {params['db']}: {exc}")
    action, problem = target.verdict(info, module.params["plan_hash"], module.params["backup_id"])
    module.exit_json(changed=False, state=info["state"], objects=info["objects"], plan=info["plan"],
                     backup=info["backup"], action=action, problem=problem)


if __name__ == "__main__":
    main()
