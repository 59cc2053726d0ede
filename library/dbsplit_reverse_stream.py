#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_reverse_stream
short_description: The reverse streams of the targets back to the monolith - set up, caught up, removed, or read
description:
  - Every target in one task, side by side. Each target publishes its tables and the monolith's database
    subscribes (a subscription named after the target, C(copy_data = false), its slot
    created at once). Made before any service
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
    the monolith that break a foreign key the split databases could not enforce (RV(streams[].orphans));
    read once every stream has caught up, that list is final.
  - Fails when any target fails, naming each and why; the other targets' streams are done (RV(streams)).
  - Reports what it would change in check mode.
requirements:
  - psycopg >= 3.1 (psycopg 3, python3-psycopg on Debian 12) for the managed host's Python
options:
  state:
    description: What to do with the stream.
    type: str
    choices: [present, applied, absent, info]
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
  - yemma.dbsplit.connection.TARGETS_RUNTIME
attributes:
  check_mode:
    support: full
    description: Reports what it would change; no stream is set up, caught up or removed.
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: 9-cutover | Start the reverse streams before any service writes to a target
  dbsplit_reverse_stream:
    source: "{{ dbsplit_endpoints.source.connection }}"
    targets: "{{ dbsplit_plan.targets | yemma.dbsplit.with_endpoints(dbsplit_endpoints.targets, 'runtime') }}"
    state: present
"""

RETURN = r"""
streams:
  description: Per target, in the order given, what its stream did and where it stands.
  returned: always
  type: list
  elements: dict
  sample:
    - key: yemma-postgres-auth/auth_db
      label: auth_db
      name: dbsplit_reverse_auth_db_d5eac408
      changed: true
      problems: []
      status: {exists: true, enabled: true, applying: true, apply_errors: 0, connected: true, lag_bytes: 0,
               lag_seconds: 0.0, held_bytes: 16777216, wal_status: reserved}
  contains:
    key: {description: The target's key in the plan., type: str}
    label: {description: The target's label in the plan., type: str}
    name: {description: The subscription's (and its slot's) name., type: str}
    changed: {description: "Whether this target's stream changed (would, in check mode).", type: bool}
    status:
      description:
        - "Where the stream stands: C({exists, enabled, applying, apply_errors, connected, lag_bytes, lag_seconds,
          held_bytes, wal_status}); C(lag_seconds) is null while the monolith is not connected."
      type: dict
    problems: {description: "Why the stream cannot carry writes back now, each with its fix (C(info)).", type: list, elements: str}
    waited_seconds: {description: "With C(applied), how long the monolith took to catch up.", type: float}
    applied_lsn: {description: "With C(applied), the target's WAL position the monolith has applied up to.", type: str}
    sequences:
      description: With C(applied), the sequences set on the monolith, C({sequence, from, to}).
      type: list
      elements: dict
    large_objects:
      description: With C(applied), the large objects created, rewritten or removed on the monolith, C({oid, action}).
      type: list
      elements: dict
    orphans:
      description:
        - "With C(info), per foreign key of this target's tables that crossed databases C({table, constraint, references,
          rows, examples}): rows the monolith now holds whose parent is gone."
      type: list
      elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yemma.dbsplit.plugins.module_utils import pgconn, reverse


def main():
    module = AnsibleModule(
        argument_spec=dict(
            source=dict(type="dict", required=True, options=pgconn.CONNECTION_OPTIONS),
            targets=pgconn.targets_option(pgconn.RUNTIME_OPTIONS),
            state=dict(type="str", required=True, choices=["present", "applied", "absent", "info"]),
            full_identity=dict(type="list", elements="str", default=[]),
            timeout=dict(type="int", default=300),
            copy_data=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    psycopg = pgconn.import_psycopg(module)
    params = module.params
    streams, errors = reverse.each_stream(psycopg, params["source"], params["targets"], params["state"], module.check_mode,
                                          full_identity=params["full_identity"], timeout=params["timeout"],
                                          copy_data=params["copy_data"])
    if errors:
        module.fail_json(msg=f"reverse stream(s), {params['state']}:\n- " + "\n- ".join(errors), streams=streams)
    module.exit_json(changed=any(stream["changed"] for stream in streams), streams=streams)


if __name__ == "__main__":
    main()
