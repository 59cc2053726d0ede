#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_reverse_server
short_description: Prepare PostgreSQL servers for the reverse stream (publishers or subscriber)
description:
  - The reverse stream carries every write the new services make to their databases back to
    the monolith until the migration is finished, so a rollback loses nothing.
  - Every server of O(servers) at once, side by side (a task costs a round trip over SSH).
  - C(role=publisher), on the new databases' servers before they hold data, sets
    C(wal_level = logical) and caps the WAL a slot may hold (C(max_slot_wal_keep_size)), with
    C(ALTER SYSTEM). C(wal_level) takes effect at the next restart, which the caller does when
    RV(restart_needed) says so.
  - C(role=subscriber), on the monolith's server, raises C(max_logical_replication_workers),
    C(max_worker_processes) and C(max_replication_slots) so that each of its O(servers[].streams)
    subscriptions gets an apply worker (PostgreSQL gives 4 by default). Never lowers a setting.
  - Reports what it would change in check mode, and RV(problems) that remain after the change
    and the restart (slots or senders a publisher lacks).
  - A setting the login may not C(ALTER SYSTEM) (not a superuser, nor granted it on the parameter)
    is never tried; a check run names it in RV(settings_by_hand), a run fails naming it, before any change.
requirements:
  - psycopg >= 3.1 (psycopg 3, python3-psycopg on Debian 12) for the managed host's Python
options:
  role:
    description: C(publisher) for a new database's server, C(subscriber) for the monolith's.
    type: str
    choices: [publisher, subscriber]
    required: true
  max_slot_wal_keep_size_mb:
    description: Publisher only. The WAL, in MB, a slot may keep while its subscriber is away.
    type: int
    default: 1024
extends_documentation_fragment:
  - yemma.dbsplit.connection.SERVERS
attributes:
  check_mode:
    support: full
    description: Reports the settings it would change (RV(changes)), without changing them.
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: 3-provision | Let each new database's server publish the reverse stream
  dbsplit_reverse_server:
    servers: "{{ dbsplit_endpoints.targets | yemma.dbsplit.publisher_servers }}"
    role: publisher
    max_slot_wal_keep_size_mb: 1024

- name: 4-stop | Give the monolith's server an apply worker per reverse stream
  dbsplit_reverse_server:
    servers:
      - name: yemma_db
        server: "{{ dbsplit_endpoints.source.connection }}"
        streams: 6
    role: subscriber
"""

RETURN = r"""
servers:
  description: Per server name, its RV(changes), RV(restart_needed), RV(problems) and C(by_hand) (the settings the login may not make, C(name = value)).
  returned: always
  type: dict
  sample:
    yemma-postgres-auth/auth_db:
      changes: [wal_level replica -> logical (restart), max_slot_wal_keep_size -1 MB -> 1024 MB]
      restart_needed: true
      problems: []
      by_hand: []
changes:
  description: The settings changed on any server (would be, in check mode), each as C(name old -> new), once.
  returned: always
  type: list
  elements: str
  sample: [wal_level replica -> logical (restart), max_slot_wal_keep_size -1 MB -> 1024 MB]
restart_needed:
  description: Whether a setting of some server takes effect only after its restart (RV(servers) says which).
  returned: always
  type: bool
  sample: true
problems:
  description: What still stops a publisher from serving its slots, each naming the server, with its fix.
  returned: always
  type: list
  elements: str
  sample:
    - "yemma-postgres-auth/auth_db: max_wal_senders is 2, 1 in use and 2 more needed: ALTER SYSTEM SET max_wal_senders
      = 3, then restart the server"
settings_by_hand:
  description: >-
    Check mode: per server, the settings the login may not make (it is no superuser, nor granted ALTER SYSTEM on
    them), with who may and how. A run fails on them instead, naming them, before it sets any of that server's.
  returned: always
  type: list
  elements: str
  sample:
    - "yemma_db: its server needs max_logical_replication_workers = 6, which yemma may not set: GRANT ALTER SYSTEM ON
      PARAMETER max_logical_replication_workers TO \"yemma\"; (PostgreSQL 15 on, and this tool sets them), or ..."
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yemma.dbsplit.plugins.module_utils import pgconn, reverse


def main():
    module = AnsibleModule(
        argument_spec=dict(
            servers=pgconn.servers_option(streams=dict(type="int", required=True)),
            role=dict(type="str", required=True, choices=["publisher", "subscriber"]),
            max_slot_wal_keep_size_mb=dict(type="int", default=1024),
        ),
        supports_check_mode=True,
    )
    psycopg = pgconn.import_psycopg(module)
    params = module.params
    try:
        found = reverse.prepare_servers(psycopg, params["servers"], params["role"], params["max_slot_wal_keep_size_mb"],
                                        module.check_mode)
    except reverse.ReverseError as exc:
        module.fail_json(msg=str(exc))
    logins = {spec["name"]: spec["server"]["login_user"] for spec in params["servers"]}
    changes = list(dict.fromkeys(change for result in found.values() for change in result["changes"]))
    module.exit_json(changed=bool(changes), servers=found, changes=changes,
                     restart_needed=any(result["restart_needed"] for result in found.values()),
                     problems=[f"{name}: {problem}" for name, result in found.items() for problem in result["problems"]],
                     settings_by_hand=[f"{name}: {reverse.by_hand_problem(logins[name], result['by_hand'])}"
                                       for name, result in found.items() if result["by_hand"]])


if __name__ == "__main__":
    main()
