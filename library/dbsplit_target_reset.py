#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_target_reset
short_description: Empty a service database for a reset (the runbook's DROP SCHEMA public CASCADE, whole)
description:
  - Ends the database's other sessions, drops every schema with what it holds (tables, enum types,
    functions, sequences), every extension and large object, recreates C(public) as initdb makes it,
    and removes this tool's marker from the database's comment, so that a restore or an
    installation starts from an empty database.
  - The database itself, its owner and its grants stay; the server and the other databases on it
    are not touched.
  - In check mode it only counts what it would drop.
  - The caller decides whether the database may be emptied (reset.yml asks, and refuses while the
    services may have written to it).
requirements:
  - psycopg >= 3.1 (psycopg 3, python3-psycopg on Debian 12) for the managed host's Python
extends_documentation_fragment:
  - yemma.dbsplit.connection.TARGET
attributes:
  check_mode:
    support: full
    description: Only counts what it would drop.
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: Reset | Empty auth_db
  dbsplit_target_reset:
    target: "{{ dbsplit_endpoints.targets['yemma-postgres-auth/auth_db'].connection }}"
"""

RETURN = r"""
dropped_objects:
  description: How many user objects (relations, types, functions, extensions, large objects) the database held.
  returned: always
  type: int
  sample: 64
previous_state:
  description: The target's state before (C(empty), C(restoring), C(restored), C(live), C(foreign)).
  returned: always
  type: str
  sample: restored
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yemma.dbsplit.plugins.module_utils import pgconn, target


def main():
    module = AnsibleModule(
        argument_spec=dict(target=dict(type="dict", required=True, options=pgconn.CONNECTION_OPTIONS)),
        supports_check_mode=True,
    )
    psycopg = pgconn.import_psycopg(module)
    params = module.params["target"]
    try:
        with pgconn.connect(psycopg, params) as conn:
            info = target.inspect(conn, params["tool_name"])
            changed = info["state"] != "empty" or info["plan"] is not None
            if changed and not module.check_mode:
                target.reset(conn)
                target.clear_marker(conn)
    except psycopg.Error as exc:
        module.fail_json(msg=f"cannot empty {params['db']}: {exc}")
    module.exit_json(changed=changed, dropped_objects=info["objects"], previous_state=info["state"])


if __name__ == "__main__":
    main()
