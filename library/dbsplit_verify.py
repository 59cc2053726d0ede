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
  - When a table differs, names its rows (up to O(sample_keys) keys of each kind, counted exactly) - missing in the
    target, extra in the target, different. Only the differing table is read again, twice per side (sums per bucket of
    rows by a hash of the key, then the rows of the differing buckets ordered by key, streamed), with flat memory.
  - Online mode proves every target on snapshots taken at the freeze with M(dbsplit_snapshot_proof).
  - verify.yml runs it at any time, reading each side at O(consistent_point), in the background with O(progress_file).
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
  sample_keys:
    description:
      - Keys shown per kind of difference (missing, extra, different) of a table that differs; the counts are exact
        whatever this is. Keys only (a table without a key is named by ctid), never the other columns.
      - C(0) does not look for the rows.
    type: int
    default: 20
  consistent_point:
    description:
      - How each side is read at one instant. C(quiet) (nothing writes, the migration's verify phase) reads them as they
        are; C(snapshots) exports one snapshot of each side; C(reverse_stream) takes each target's snapshot, then the
        source's once every reverse stream applied up to it; C(online_copy) takes the source's, then each target's once
        its copy applied up to it, leaving out a table whose initial copy is not done (RV(copying)). Where a stream
        joins the sides, the rows found differing are read again at a second such point, and only those that differ at
        both are reported. Sequences, which no snapshot covers, and materialized views' rows, which follow from their
        tables, are compared only when C(quiet).
    type: str
    choices: [quiet, snapshots, reverse_stream, online_copy]
    default: quiet
  stream_timeout:
    description: Seconds a stream may take to apply up to the snapshot's position, at O(consistent_point) C(reverse_stream) or C(online_copy).
    type: int
    default: 120
  restored_only:
    description: Compare only the targets this tool restored (or that went live), and list the others in RV(not_restored), as a check run does.
    type: bool
    default: false
  scan:
    description: C(false) reads no row and returns in RV(plan) what would be compared.
    type: bool
    default: true
  progress_file:
    description: File rewritten as the tables are compared (JSON with a C(line)), for M(dbsplit_progress) while this runs in the background.
    type: path
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
    yemma-postgres-payment/payment_db:
      - {table: public.payments, rows: 900, source_rows: 900, checksum: 9a0c2e46d1b1f0a6f71a4c2fa3b9e0d1,
         source_checksum: 5be2f1c0d3a94e7e8f6b2d1c0a9e8f7d, bytes: 131072, seconds: 0.04,
         rows_differing: {key: [id], buckets: 1024, differing_buckets: 1,
                          counts: {missing: 0, extra: 0, different: 1},
                          keys: {missing: [], extra: [], different: ["(id)=(42)"]}}}
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
  description: In check mode or with O(restored_only), the labels of the targets this tool has not restored yet, so not compared.
  returned: always
  type: list
  elements: str
  sample: [auth_db]
plan:
  description: With O(scan=false), per target compared, its C(label), C(tables) and the source's C(bytes) of them.
  returned: always
  type: list
  elements: dict
  sample: [{label: payment_db, tables: 2, bytes: 16384000}]
copying:
  description: At O(consistent_point) C(online_copy), the tables left out because their initial copy is not done, each C({target, table}).
  returned: always
  type: list
  elements: dict
  sample: [{target: yemma-postgres-logs/logs_db, table: public.audit_logs}]
waited:
  description: Seconds the streams took to apply up to the snapshots' position (O(consistent_point)).
  returned: always
  type: float
  sample: 0.4
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yemma.dbsplit.plugins.module_utils import audit, pgconn, verify


def main():
    module = AnsibleModule(
        argument_spec=dict(
            source=dict(type="dict", required=True, options=pgconn.CONNECTION_OPTIONS),
            targets=pgconn.targets_option(pgconn.CONNECTION_OPTIONS),
            jobs=dict(type="int", default=2),
            excused=dict(type="list", elements="dict", default=[],
                         options=dict(target=dict(type="str", required=True), table=dict(type="str", required=True))),
            matviews=dict(type="str", choices=["refreshed_on_target", "by_query"], default="refreshed_on_target"),
            sample_keys=dict(type="int", default=20),
            consistent_point=dict(type="str", choices=list(audit.CONSISTENT_POINTS), default="quiet"),
            stream_timeout=dict(type="int", default=120),
            restored_only=dict(type="bool", default=False),
            scan=dict(type="bool", default=True),
            progress_file=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    psycopg = pgconn.import_psycopg(module)
    params = module.params
    targets, not_restored = params["targets"], []
    # A check run restores nothing: a target this tool has not restored (empty, or not even
    # created) is compared once the run restores it.
    if module.check_mode or params["restored_only"]:
        targets, not_restored = verify.split_restored(psycopg, params["targets"])
    if not params["scan"]:
        module.exit_json(changed=False, tables={}, differences=[], excused=[], not_restored=not_restored, waited=0.0,
                         copying=[], plan=verify.describe(psycopg, params["source"], targets))
    progress = verify.Progress(params["progress_file"]) if params["progress_file"] else None
    try:
        matviews = verify.MATVIEWS_BY_QUERY if params["matviews"] == "by_query" else verify.MATVIEWS_REFRESHED_ON_TARGET
        if params["consistent_point"] == "quiet":
            tables, differences = verify.compare(psycopg, params["source"], targets, params["jobs"],
                                                 excused=params["excused"], matviews=matviews,
                                                 sample_keys=params["sample_keys"], progress=progress)
            waited, copying = 0.0, []
        else:
            tables, differences, waited, copying = audit.compare_at(
                psycopg, params["source"], targets, params["jobs"], params["consistent_point"], params["stream_timeout"],
                params["sample_keys"], progress)
    except verify.StreamError as exc:
        module.fail_json(msg=str(exc), tables={}, differences=[], excused=[])
    except psycopg.Error as exc:
        module.fail_json(msg=f"cannot read the source to compare the targets with it: {exc}", tables={}, differences=[],
                         excused=[])
    excused = [item for item in verify.differing_tables(tables) if item in params["excused"]]
    if differences:
        module.fail_json(msg="the targets differ from the source:\n- " + "\n- ".join(differences),
                         tables=tables, differences=differences, excused=excused, not_restored=not_restored,
                         waited=waited, copying=copying)
    module.exit_json(changed=False, tables=tables, differences=[], excused=excused, not_restored=not_restored,
                     objects=sum(len(verify.placed_objects(target["plan"])) for target in targets), waited=waited,
                     copying=copying, plan=[])


if __name__ == "__main__":
    main()
