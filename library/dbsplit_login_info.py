#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_login_info
short_description: Read what the tool's login may do on each server
description:
  - For every server of O(servers) (the login on its database), reads whether the login is a
    superuser, may open replication connections, end other roles' sessions
    (C(pg_signal_backend)) and create subscriptions (C(pg_create_subscription), PostgreSQL 16 on),
    whether it acts as the owner of the database and of each of O(servers[].tables), and the
    server's version.
  - The privileges a phase needs are judged from these facts on the controller
    (plugin_utils/privileges), each missing one named with the statement that grants it.
  - Only reads, so it runs in check mode too.
requirements:
  - psycopg >= 3.1 (psycopg 3, python3-psycopg on Debian 12) for the managed host's Python
extends_documentation_fragment:
  - yemma.dbsplit.connection.LOGIN_SERVERS
attributes:
  check_mode:
    support: full
    description: Only reads.
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: 1-preflight | Read what the login may do on the monolith's server
  dbsplit_login_info:
    servers:
      - name: yemma_db
        server: "{{ dbsplit_endpoints.source.connection }}"
        tables: "{{ plan.tables }}"
"""

RETURN = r"""
servers:
  description: Per server name, what the login may do there.
  returned: always
  type: dict
  sample:
    yemma_db: {login: yemma, superuser: false, replication: false, signal_backend: true,
               create_subscription: true, owns_database: true, database_owner: yemma, database: yemma_db,
               server_version: 170002, foreign_owners: {}}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yemma.dbsplit.plugins.module_utils import login, pgconn


def main():
    module = AnsibleModule(
        argument_spec=dict(
            servers=pgconn.servers_option(tables=dict(type="list", elements="str", default=[])),
        ),
        supports_check_mode=True,
    )
    psycopg = pgconn.import_psycopg(module)
    found = {}
    for spec in module.params["servers"]:
        try:
            with pgconn.connect(psycopg, spec["server"]) as conn:
                found[spec["name"]] = login.read(conn, spec["tables"])
        except psycopg.Error as exc:
            module.fail_json(msg=f"cannot read what the login may do on {spec['name']}: {str(exc).strip()}")
    module.exit_json(changed=False, servers=found)


if __name__ == "__main__":
    main()
