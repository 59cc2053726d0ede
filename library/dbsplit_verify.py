#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_verify
short_description: Prove a target database holds exactly the source's planned tables
description:
  - For every planned table, compares the row count and a content checksum computed the
    same way on both sides (the sum of 128-bit hashes of each row's text, in one scan by
    each server, with identical session settings), so no rows are shipped or sorted.
  - Also compares sequence values, enum labels, and each table's columns, defaults,
    indexes, constraints and triggers, except the foreign keys the plan left out because
    they cross databases (which must be absent).
  - Compares the rows of every materialized view, and checks that every other object the plan
    places in this target (views, functions, procedures, aggregates, types, domains, sequences,
    schemas, extensions, publications...) exists there, found by its address, with the source's
    definition (view query, function arguments, result and body, type labels, constraints and
    attributes, sequence parameters).
  - Compares the count and a content checksum of all large objects (each one's oid and content)
    when the plan gives this target the source's large objects; any other target must hold none.
    The checksum is computed from C(pg_largeobject) pages in one scan when both logins may read
    it (superusers), else object by object with C(lo_get), which holds one whole object in the
    server's memory at a time.
  - Fails on any difference. Only reads, so it runs in check mode too.
  - Online mode proves every target on snapshots taken at the freeze with M(dbsplit_snapshot_proof).
options:
  target_plan:
    description: This target's entry of the plan's C(targets).
    type: dict
    required: true
  jobs:
    description: Tables scanned at once (each scan runs on both servers).
    type: int
    default: 2
extends_documentation_fragment:
  - yemma.dbsplit.connection.SOURCE
  - yemma.dbsplit.connection.TARGET
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: 8-verify | Compare auth_db with the monolith, table by table
  dbsplit_verify:
    source: "{{ dbsplit_source_connection }}"
    target: "{{ dbsplit_target_connections['auth_db'] }}"
    target_plan: "{{ plan.targets[0] }}"
"""

RETURN = r"""
tables:
  description: Per table, C(rows), C(checksum), C(bytes) and C(seconds) on the target, with the source's rows and checksum.
  returned: always
  type: list
  elements: dict
objects:
  description: How many objects that are not tables (views, functions, types...) were found equal.
  returned: success
  type: int
differences:
  description: Every difference found; empty when the target is proven equal.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yemma.dbsplit.plugins.module_utils import pgconn, verify


def main():
    module = AnsibleModule(
        argument_spec=dict(
            source=dict(type="dict", required=True, options=pgconn.CONNECTION_OPTIONS),
            target=dict(type="dict", required=True, options=pgconn.CONNECTION_OPTIONS),
            target_plan=dict(type="dict", required=True),
            jobs=dict(type="int", default=2),
        ),
        supports_check_mode=True,
    )
    psycopg = pgconn.import_psycopg(module)
    params = module.params
    try:
        tables, differences = verify.compare(psycopg, params["source"], params["target"], params["target_plan"],
                                             params["jobs"])
    except psycopg.Error as exc:
        module.fail_json(msg=f"cannot compare {params['target_plan']['label']} with the source: {exc}")
    if differences:
        module.fail_json(msg=f"{params['target_plan']['label']} differs from the source:\n- " + "\n- ".join(differences),
                         tables=tables, differences=differences)
    module.exit_json(changed=False, tables=tables, objects=len(verify.placed_objects(params["target_plan"])),
                     differences=[])


if __name__ == "__main__":
    main()
