#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_target_create
short_description: Create each target database its running server does not hold yet
description:
  - For every target whose server runs but holds no database of that name (a map that gives a
    service its own database on a server whose compose service creates another), runs
    C(CREATE DATABASE) as the login, which then owns it, as the image's entrypoint creates its
    C(POSTGRES_DB).
  - Fails before creating any, naming each database the login may not create (neither superuser
    nor C(CREATEDB)) with the statement to run as a superuser.
  - A target that exists, or whose server refuses the login, is left to M(dbsplit_target_info).
requirements:
  - psycopg >= 3.1 (psycopg 3, python3-psycopg on Debian 12) for the managed host's Python
extends_documentation_fragment:
  - yemma.dbsplit.connection.TARGETS
attributes:
  check_mode:
    support: full
    description: Reads which databases are absent and says which it would create.
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: 3-provision | Create the new databases their servers do not hold yet
  dbsplit_target_create:
    targets: "{{ plan.targets | yemma.dbsplit.with_endpoints(dbsplit_endpoints.targets, 'connection') }}"
"""

RETURN = r"""
created:
  description: Labels of the databases created (in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: [logs_db]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yemma.dbsplit.plugins.module_utils import pgconn, target


def main():
    module = AnsibleModule(
        argument_spec=dict(targets=pgconn.targets_option(pgconn.CONNECTION_OPTIONS)),
        supports_check_mode=True,
    )
    psycopg = pgconn.import_psycopg(module)
    absent, refused = [], []
    for spec in module.params["targets"]:
        endpoint, label = spec["endpoint"], spec["plan"]["label"]
        try:
            judged = target.judge(psycopg, endpoint, "", None)
        except psycopg.Error as exc:
            module.fail_json(msg=f"cannot read target {label}: {exc}")
        if judged["state"] == "absent":
            if judged["action"] == "create":
                absent.append((label, endpoint))
            else:
                refused.append(f"target {label} {judged['problem']}")
    if refused:
        module.fail_json(msg="\n".join(refused), created=[])
    created = []
    for label, endpoint in absent:
        try:
            target.create(psycopg, endpoint, module.check_mode)
        except psycopg.Error as exc:
            module.fail_json(msg=f"cannot create target {label}: {str(exc).strip()}", created=created)
        created.append(label)
    module.exit_json(changed=bool(created), created=created)


if __name__ == "__main__":
    main()
