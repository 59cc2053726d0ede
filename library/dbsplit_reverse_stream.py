#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_reverse_stream
short_description: The reverse stream of one target back to the monolith - set up, caught up, removed, or read
description:
  - The target publishes its tables (publication C(dbsplit_reverse)) and the monolith's database
    subscribes (O(name), C(copy_data = false), its slot created at once). Made before any service
    starts on the target, so every write the new services make flows back, and a rollback loses
    nothing. The frozen monolith takes it, since apply workers ignore C(default_transaction_read_only).
  - C(present) creates the publication and the subscription (idempotent). A published table
    without a primary key fails the task unless listed in O(full_identity), which gives it
    C(REPLICA IDENTITY FULL) on the target.
  - C(applied), once the new services are stopped, waits until the monolith has applied every
    change the target wrote, then carries the target's sequences back to the monolith, and its
    large objects when the plan gave it the source's (logical replication streams neither).
  - C(absent) removes the subscription, its slot and the publication.
  - C(info) only reads where the stream stands (lag, WAL held, what stops it) and the rows of
    the monolith that break a foreign key the split databases could not enforce (RV(orphans));
    read once every stream has caught up, that list is final.
  - Reports what it would change in check mode.
options:
  name:
    description: Name of the subscription and of its slot (yemma.dbsplit.reverse_name).
    type: str
    required: true
  state:
    description: What to do with the stream.
    type: str
    choices: [present, applied, absent, info]
    required: true
  target_plan:
    description: The plan's entry for this target (its tables, sequences, dropped foreign keys).
    type: dict
    required: true
  full_identity:
    description: Tables (as the plan names them) that get C(REPLICA IDENTITY FULL) for want of a primary key.
    type: list
    elements: str
    default: []
  timeout:
    description: With C(applied), how long to wait for the monolith to catch up (its tables' first copy included), in seconds.
    type: int
    default: 300
  copy_data:
    description:
      - With C(present), the subscription first copies the target's tables into the monolith's, which must be
        empty (a monolith rebuilt from the backup without them, after its volume was lost), then streams.
      - A slot of that name left on the target by the lost monolith's subscription is dropped first.
    type: bool
    default: false
extends_documentation_fragment:
  - yemma.dbsplit.connection.SOURCE
  - yemma.dbsplit.connection.TARGET_RUNTIME
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: 9-cutover | Start the reverse stream before any service writes to the target
  dbsplit_reverse_stream:
    source: "{{ dbsplit_endpoints.source.connection }}"
    target: "{{ dbsplit_endpoints.targets[item.key].runtime }}"
    name: "{{ item.key | yemma.dbsplit.reverse_name(item.database) }}"
    target_plan: "{{ item }}"
    state: present
"""

RETURN = r"""
status:
  description:
    - "Where the stream stands: C({exists, enabled, applying, apply_errors, connected, lag_bytes, lag_seconds,
      held_bytes, wal_status}); C(lag_seconds) is null while the monolith is not connected."
  returned: always
  type: dict
problems:
  description: Why the stream cannot carry writes back now, each with its fix (C(info)).
  returned: always
  type: list
  elements: str
waited_seconds:
  description: With C(applied), how long the monolith took to catch up.
  returned: when state is applied
  type: float
applied_lsn:
  description: With C(applied), the target's WAL position the monolith has applied up to.
  returned: when state is applied
  type: str
sequences:
  description: With C(applied), the sequences set on the monolith, C({sequence, from, to}).
  returned: when state is applied
  type: list
  elements: dict
large_objects:
  description: With C(applied), the large objects created, rewritten or removed on the monolith, C({oid, action}).
  returned: when state is applied
  type: list
  elements: dict
orphans:
  description:
    - "With C(info), per foreign key of this target's tables that crossed databases C({table, constraint, references,
      rows, examples}): rows the monolith now holds whose parent is gone."
  returned: when state is info
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yemma.dbsplit.plugins.module_utils import pgconn, reverse, verify


def main():
    module = AnsibleModule(
        argument_spec=dict(
            source=dict(type="dict", required=True, options=pgconn.CONNECTION_OPTIONS),
            target=dict(type="dict", required=True, options=pgconn.RUNTIME_OPTIONS),
            name=dict(type="str", required=True),
            state=dict(type="str", required=True, choices=["present", "applied", "absent", "info"]),
            target_plan=dict(type="dict", required=True),
            full_identity=dict(type="list", elements="str", default=[]),
            timeout=dict(type="int", default=300),
            copy_data=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    psycopg = pgconn.import_psycopg(module)
    params = module.params
    name, state, plan = params["name"], params["state"], params["target_plan"]
    tables = [table["name"] for table in plan["tables"]]
    result = {"changed": False}
    try:
        with pgconn.connect(psycopg, params["source"]) as source, pgconn.connect(psycopg, params["target"]) as target:
            if state == "present":
                result["changed"] = reverse.start(source, target, params["target"], name, tables,
                                                  params["full_identity"], module.check_mode, params["copy_data"])
            elif state == "applied":
                result["waited_seconds"], result["applied_lsn"] = (0.0, None) if module.check_mode else \
                    reverse.wait_applied(source, target, name, params["timeout"])
                result["sequences"] = reverse.carry_sequences(target, source, verify.planned_relations(plan)[2],
                                                              module.check_mode)
                result["large_objects"] = reverse.carry_large_objects(target, source, module.check_mode) \
                    if plan.get("large_objects") else []
                result["changed"] = bool(result["sequences"] or result["large_objects"])
            elif state == "absent":
                unsubscribed = reverse.unsubscribe(source, name, module.check_mode)
                result["changed"] = reverse.unpublish(target, name, module.check_mode, unsubscribed) or unsubscribed
            result["status"] = reverse.status(source, target, name)
            result["problems"] = reverse.problems_of(name, result["status"]) if state == "info" else []
            if state == "info":
                result["orphans"] = reverse.orphans(source, plan["dropped_foreign_keys"])
    except (psycopg.Error, reverse.ReverseError) as exc:
        module.fail_json(msg=f"reverse stream {name} ({params['target']['db']} -> {params['source']['db']}), "
                             f"{state}: {exc}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
