#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_reverse_server
short_description: Prepare a PostgreSQL server for the reverse stream (publisher or subscriber)
description:
  - The reverse stream carries every write the new services make to their databases back to
    the monolith until the migration is finished, so a rollback loses nothing.
  - C(role=publisher), on a new database's server before it holds data, sets
    C(wal_level = logical) and caps the WAL a slot may hold (C(max_slot_wal_keep_size)), with
    C(ALTER SYSTEM). C(wal_level) takes effect at the next restart, which the caller does when
    RV(restart_needed) says so.
  - C(role=subscriber), on the monolith's server, raises C(max_logical_replication_workers),
    C(max_worker_processes) and C(max_replication_slots) so that each of O(streams)
    subscriptions gets an apply worker (PostgreSQL gives 4 by default). Never lowers a setting.
  - Reports what it would change in check mode, and RV(problems) that remain after the change
    and the restart (slots or senders a publisher lacks).
options:
  role:
    description: C(publisher) for a new database's server, C(subscriber) for the monolith's.
    type: str
    choices: [publisher, subscriber]
    required: true
  streams:
    description: How many slots this server's publications need (one a stream, online mode adds its table-sync workers), or how many streams it subscribes to.
    type: int
    required: true
  max_slot_wal_keep_size_mb:
    description: Publisher only. The WAL, in MB, a slot may keep while its subscriber is away.
    type: int
    default: 1024
extends_documentation_fragment:
  - yemma.dbsplit.connection.SERVER
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: 3-provision | Let each new database's server publish the reverse stream
  dbsplit_reverse_server:
    server: "{{ dbsplit_endpoints.targets[item.key].connection }}"
    role: publisher
    streams: 1
    max_slot_wal_keep_size_mb: 1024

- name: 4-stop | Give the monolith's server an apply worker per reverse stream
  dbsplit_reverse_server:
    server: "{{ dbsplit_endpoints.source.connection }}"
    role: subscriber
    streams: 6
"""

RETURN = r"""
changes:
  description: The settings changed (would be, in check mode), each as C(name old -> new).
  returned: always
  type: list
  elements: str
restart_needed:
  description: Whether a setting takes effect only after a restart of the server.
  returned: always
  type: bool
problems:
  description: What still stops a publisher from serving O(streams) slots, each with its fix.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yemma.dbsplit.plugins.module_utils import pgconn, reverse


def main():
    module = AnsibleModule(
        argument_spec=dict(
            server=dict(type="dict", required=True, options=pgconn.CONNECTION_OPTIONS),
            role=dict(type="str", required=True, choices=["publisher", "subscriber"]),
            streams=dict(type="int", required=True),
            max_slot_wal_keep_size_mb=dict(type="int", default=1024),
        ),
        supports_check_mode=True,
    )
    psycopg = pgconn.import_psycopg(module)
    params = module.params
    problems = []
    try:
        with pgconn.connect(psycopg, params["server"]) as conn:
            if params["role"] == "publisher":
                changes, restart = reverse.prepare_publisher(conn, params["max_slot_wal_keep_size_mb"],
                                                             module.check_mode, params["streams"])
                # The settings are set (or, in check mode, would be) for the restart that follows.
                problems = [] if restart else reverse.publisher_problems(conn, params["streams"])
            else:
                changes, restart = reverse.prepare_subscriber(conn, params["streams"], module.check_mode)
    except psycopg.Error as exc:
        module.fail_json(msg=f"cannot prepare {params['server']['login_host']} for the reverse stream: {exc}")
    module.exit_json(changed=bool(changes), changes=changes, restart_needed=restart, problems=problems)


if __name__ == "__main__":
    main()
