#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_online_copy
short_description: "Online mode: subscribe one target on the slot its copy began, follow its stream, remove it"
description:
  - M(dbsplit_online_bulk) copied the target's rows from the snapshot of slot O(name) on the monolith (which
    publishes the target's tables in the publication O(name)), and M(dbsplit_restore) built its indexes and
    constraints (the target is marked C(restored)).
  - C(present) creates the subscription O(name) on that slot (C(copy_data = false), C(create_slot = false)), which
    streams every change the old services made since the snapshot. Idempotent (an existing subscription goes on
    streaming where it is). A target not copied and built yet, or a slot missing or in use, fails the task with
    the fix.
  - C(info) only reads the stream (every table subscribed, its lag, what stops it) and what changed in the
    published tables' schema on the monolith since the copy began.
  - The cutover's catch-up, the removal of every copy and the reverse stream's start are one task for
    all targets (M(dbsplit_online_switch)).
  - C(absent) removes the subscription, its slot and the publication, and puts C(REPLICA IDENTITY
    DEFAULT) back on the O(full_identity) tables of this target on the monolith.
  - Reports what it would change in check mode.
requirements:
  - psycopg >= 3.1 (psycopg 3, python3-psycopg on Debian 12) for the managed host's Python
options:
  name:
    description: Name of the subscription, of its slot and of the monolith's publication (yemma.dbsplit.online_name).
    type: str
    required: true
  state:
    description: What to do with the copy.
    type: str
    choices: [present, info, absent]
    required: true
  target_plan:
    description: The plan's entry for this target (its tables, sequences, dropped foreign keys).
    type: dict
    required: true
  full_identity:
    description: Tables (as the plan names them) that get C(REPLICA IDENTITY FULL) on the monolith for want of a primary key.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - yemma.dbsplit.connection.SOURCE_RUNTIME
  - yemma.dbsplit.connection.TARGET
attributes:
  check_mode:
    support: full
    description: Reports what it would change; nothing is published, subscribed or removed.
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: 6-transfer | Subscribe each target on the slot its copy began
  dbsplit_online_copy:
    source: "{{ dbsplit_endpoints.source.runtime }}"
    target: "{{ dbsplit_endpoints.targets[item.key].connection }}"
    name: "{{ item.key | yemma.dbsplit.online_name(item.database) }}"
    target_plan: "{{ item }}"
    state: present
"""

RETURN = r"""
status:
  description:
    - "The stream: C({exists, enabled, applying, apply_errors, connected, lag_bytes, lag_seconds, held_bytes,
      wal_status}); C(held_bytes) is the WAL its slot keeps on the monolith's disk."
  returned: always
  type: dict
  sample: {exists: true, enabled: true, applying: true, apply_errors: 0, connected: true, lag_bytes: 0,
           lag_seconds: 0.0, held_bytes: 16777216, wal_status: reserved}
progress:
  description:
    - "The tables subscribed: C({tables: [{table, state, bytes_done, bytes, rows_done, rows}], copied, count, bytes_done,
      bytes}); a table C(copied) is synchronized (C(state) s or r, as every table the bulk copy brought)."
  returned: when state is present or info
  type: dict
  sample:
    tables:
      - {table: public.payments, state: d, bytes_done: 52428800, bytes: 104857600, rows_done: 250000, rows: 500000}
      - {table: public.plans, state: r, bytes_done: 8192, bytes: 8192, rows_done: 4, rows: 4}
    copied: 1
    count: 2
    bytes_done: 52436992
    bytes: 104865792
line:
  description: The stream's lag in one line for the operator (a table not synchronized yet is named).
  returned: when state is present or info
  type: str
  sample: "payment_db: 2/2 tables copied, 100.0 MB of 100.0 MB; streaming, lag 2.0 kB, 0.4 s"
problems:
  description: What stops the copy (subscription disabled by an apply error, slot lost, missing) or makes it wrong (a schema change), each with its fix.
  returned: always
  type: list
  elements: str
  sample:
    - "subscription dbsplit_online_payment_db_a29c3807 is disabled after 2 apply error(s): read the target's log (docker
      logs <its container>) for the row it could not apply; start the copy again with rollback.yml, then migrate.yml"
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yemma.dbsplit.plugins.module_utils import online, pgconn, reverse


def main():
    module = AnsibleModule(
        argument_spec=dict(
            source=dict(type="dict", required=True, options=pgconn.RUNTIME_OPTIONS),
            target=dict(type="dict", required=True, options=pgconn.CONNECTION_OPTIONS),
            name=dict(type="str", required=True),
            state=dict(type="str", required=True, choices=["present", "info", "absent"]),
            target_plan=dict(type="dict", required=True),
            full_identity=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    psycopg = pgconn.import_psycopg(module)
    params = module.params
    name, state, plan = params["name"], params["state"], params["target_plan"]
    tables = [table["name"] for table in plan["tables"]]
    identity = [table for table in params["full_identity"] if table in tables]
    result = {"changed": False, "problems": []}
    try:
        with pgconn.connect(psycopg, params["source"]) as monolith, pgconn.connect(psycopg, params["target"]) as target:
            if state == "present":
                problem = online.subscribe_problem(target, params["target"]["tool_name"])
                if problem:
                    module.fail_json(msg=f"{plan['label']} {problem}")
                connection = reverse.conninfo(params["source"], params["source"]["login_password"], online.APPLICATION)
                result["changed"] = reverse.subscribe(target, monolith, name, connection, module.check_mode,
                                                      publication=name, on_slot=True)
            elif state == "absent":
                result["changed"] = online.remove(monolith, target, name, identity, module.check_mode)
            result["status"] = reverse.status(target, monolith, name)
            if state in ("present", "info"):
                result["progress"] = online.copy_progress(monolith, target, name, tables)
                result["line"] = online.progress_line(plan["label"], result["progress"], result["status"])
            if state == "info":
                changes = online.schema_changes(monolith, target, tables, online.dropped_constraints(plan)) \
                    if result["status"]["exists"] else []
                result["problems"] = online.problems_of(name, result["status"], changes)
    except (psycopg.Error, reverse.ReverseError) as exc:
        module.fail_json(msg=f"online copy {name} ({params['source']['db']} -> {params['target']['db']}), "
                             f"{state}: {exc}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
