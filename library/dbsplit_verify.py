#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_verify
short_description: Prove every target database holds exactly the source's planned tables
description:
  - Compares every target in one task. One pool of I(jobs) connections scans both sides of every table of every target,
    the largest tables first, so the servers stay busy until the last table rather than each target waiting for its own.
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
  - Fails on any difference, naming each target and what differs. Only reads, so it runs in check mode too.
  - Online mode proves every target on snapshots taken at the freeze with M(dbsplit_snapshot_proof).
requirements:
  - psycopg >= 3.1 (psycopg 3, python3-psycopg on Debian 12) for the managed host's Python
options:
  jobs:
    description: Scans at once, over every target (each side of each table is one scan).
    type: int
    default: 2
  excused:
    description:
      - Tables whose rows may differ without failing the proof, each C({target, table}) (a target key, a table's identity).
      - A rollback after the cutover's proof found them different passes them, since that difference is why it goes back;
        their figures are still returned, and listed in RV(excused).
    type: list
    elements: dict
    default: []
    suboptions:
      target: {description: The target's key., type: str, required: true}
      table: {description: "The table, as the plan names it (e.g. C(public.payments)).", type: str, required: true}
  matviews:
    description:
      - How materialized views are compared.
      - C(refreshed_on_target) (a migration) compares each target's, refreshed from its rows when it was filled, with
        what the view's query gives on the source (whose last refresh may be older).
      - C(by_query) (a rollback) compares what the view's query gives on both sides; the monolith's keep their last refresh.
    type: str
    choices: [refreshed_on_target, by_query]
    default: refreshed_on_target
extends_documentation_fragment:
  - yemma.dbsplit.connection.SOURCE
  - yemma.dbsplit.connection.TARGETS
attributes:
  check_mode:
    support: full
    description: >-
      Only reads. A check run compares the targets this tool restored already (a check after the transfer) and lists
      the others in RV(not_restored): it restores nothing, so they are compared by the run that restores them.
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: 8-verify | Compare every target with the monolith, table by table
  dbsplit_verify:
    source: "{{ dbsplit_endpoints.source.connection }}"
    targets: "{{ dbsplit_plan.targets | yemma.dbsplit.with_endpoints(dbsplit_endpoints.targets, 'connection') }}"
    jobs: 2
"""

RETURN = r"""
tables:
  description: Per target key, per table, C(rows), C(checksum), C(bytes) and C(seconds) on the target, with the source's
    rows and checksum.
  returned: always
  type: dict
  sample:
    yemma-postgres-auth/auth_db:
      - {table: public.users, rows: 1520, source_rows: 1520, checksum: 2d711642b726b04401627ca9fbac32f5,
         source_checksum: 2d711642b726b04401627ca9fbac32f5, bytes: 253952, seconds: 0.05}
objects:
  description: How many objects that are not tables (views, functions, types...) were found equal.
  returned: success
  type: int
  sample: 12
differences:
  description: Every difference found, each naming its target; empty when every target is proven equal.
  returned: always
  type: list
  elements: str
  sample: []
excused:
  description: The tables of O(excused) that did differ, each C({target, table}).
  returned: always
  type: list
  elements: dict
  sample: [{target: yemma-postgres-payment/payment_db, table: public.payments}]
not_restored:
  description: Check mode only, the labels of the targets this tool has not restored yet, so not compared.
  returned: always
  type: list
  elements: str
  sample: [auth_db]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yemma.dbsplit.plugins.module_utils import pgconn, verify


def main():
    module = AnsibleModule(
        argument_spec=dict(
            source=dict(type="dict", required=True, options=pgconn.CONNECTION_OPTIONS),
            targets=pgconn.targets_option(pgconn.CONNECTION_OPTIONS),
            jobs=dict(type="int", default=2),
            excused=dict(type="list", elements="dict", default=[],
                         options=dict(target=dict(type="str", required=True), table=dict(type="str", required=True))),
            matviews=dict(type="str", choices=["refreshed_on_target", "by_query"], default="refreshed_on_target"),
        ),
        supports_check_mode=True,
    )
    psycopg = pgconn.import_psycopg(module)
    params = module.params
    targets, not_restored = params["targets"], []
    if module.check_mode:
        # A check run restores nothing: a target this tool has not restored (empty, or not even
        # created) is compared once the run restores it.
        targets, not_restored = verify.split_restored(psycopg, params["targets"])
    try:
        matviews = verify.MATVIEWS_BY_QUERY if params["matviews"] == "by_query" else verify.MATVIEWS_REFRESHED_ON_TARGET
        tables, differences = verify.compare(psycopg, params["source"], targets, params["jobs"],
                                             excused=params["excused"], matviews=matviews)
    except psycopg.Error as exc:
        module.fail_json(msg=f"cannot read the source to compare the targets with it: {exc}", tables={}, differences=[],
                         excused=[])
    excused = [item for item in verify.differing_tables(tables) if item in params["excused"]]
    if differences:
        module.fail_json(msg="the targets differ from the source:\n- " + "\n- ".join(differences),
                         tables=tables, differences=differences, excused=excused)
    module.exit_json(changed=False, tables=tables, differences=[], excused=excused, not_restored=not_restored,
                     objects=sum(len(verify.placed_objects(target["plan"])) for target in targets))


if __name__ == "__main__":
    main()
