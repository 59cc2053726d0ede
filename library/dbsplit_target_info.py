#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_target_info
short_description: Tell whether each target database can receive a restore
description:
  - Reads every target database's state in one task, C(empty), C(restoring) (left half-restored by a
    killed run), C(restored) (by this tool, with the plan and backup it came from),
    C(live) (services started on it at cutover), C(foreign) (holds objects this tool
    did not restore) or C(absent) (its server runs without it), and what a transfer would do.
  - An C(absent) database is created by the provision phase (M(dbsplit_target_create)) when the login
    may create databases, and refused with the C(CREATE DATABASE) statement to run otherwise.
  - A target that refuses the login (a wrong password) is C(unreachable) and refused, with the
    fix, so that the preflight lists it with the other problems.
  - Only reads, so it runs in check mode too.
requirements:
  - psycopg >= 3.1 (psycopg 3, python3-psycopg on Debian 12) for the managed host's Python
options:
  plan_hash:
    description: Hash of the plan about to run.
    type: str
    required: true
  backup_id:
    description: Id of the backup about to be restored, if known.
    type: str
  fail_on_refusal:
    description: Fail, naming each refused target with its fix, when a transfer would refuse one (the provision's check).
    type: bool
    default: false
extends_documentation_fragment:
  - yemma.dbsplit.connection.TARGETS
attributes:
  check_mode:
    support: full
    description: Only reads, so a check run reads the targets as any run does.
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: 1-preflight | Check that every running target is empty or ours
  dbsplit_target_info:
    targets: "{{ plan.targets | yemma.dbsplit.with_endpoints(dbsplit_endpoints.targets, 'connection') }}"
    plan_hash: "{{ plan.hash }}"
"""

RETURN = r"""
targets:
  description: Per target key, what it holds and what a transfer would do with it.
  returned: always
  type: dict
  sample:
    yemma-postgres-auth/auth_db: {label: auth_db, state: empty, action: restore, problem: null, objects: 0, plan: null,
                                  backup: null, server_version: 150018}
  contains:
    label: {description: The target's label., type: str}
    state: {description: "C(empty), C(restoring), C(restored), C(live), C(foreign), C(absent) or C(unreachable).", type: str}
    action: {description: "What a transfer would do: C(restore), C(rebuild), C(keep), C(refuse), or C(create) (an absent database, created at provision).", type: str}
    problem: {description: "Why the target is refused, with the fix; null otherwise.", type: str}
    objects: {description: How many objects it holds (null when unreachable)., type: int}
    plan: {description: The plan its marker records., type: str}
    backup: {description: The backup its marker records., type: str}
    server_version: {description: "The server's version number (C(server_version_num), e.g. 150018); null when unreachable.", type: int}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yemma.dbsplit.plugins.module_utils import pgconn, target


def main():
    module = AnsibleModule(
        argument_spec=dict(
            targets=pgconn.targets_option(pgconn.CONNECTION_OPTIONS),
            plan_hash=dict(type="str", required=True),
            backup_id=dict(type="str"),
            fail_on_refusal=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    psycopg = pgconn.import_psycopg(module)
    found = {}
    for spec in module.params["targets"]:
        endpoint = spec["endpoint"]
        try:
            judged = target.judge(psycopg, endpoint, module.params["plan_hash"], module.params["backup_id"])
        except psycopg.Error as exc:
            module.fail_json(msg=f"cannot read target {endpoint['db']}: {exc}")
        found[spec["plan"]["key"]] = dict(judged, label=spec["plan"]["label"])
    refused = [f"target {state['label']} {state['problem']}" for _key, state in sorted(found.items()) if state["action"] == "refuse"]
    if refused and module.params["fail_on_refusal"]:
        module.fail_json(msg="\n".join(refused), targets=found)
    module.exit_json(changed=False, targets=found)


if __name__ == "__main__":
    main()
