#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_snapshot_proof
short_description: "Online mode - prove every target equal to the monolith as of one instant, while the new services write"
description:
  - First takes a snapshot of the source and of every target (transactions held open until the end), then
    writes O(ready_file), then compares every target with the source as those snapshots see them, with the
    comparison of M(dbsplit_verify) (rows, checksums, schema, enums, other objects, large objects).
  - The cutover starts it async before it stops the services (the launch costs no downtime), with
    O(after_file), which M(dbsplit_online_switch) writes once every target caught up with the frozen
    monolith; the cutover waits for O(ready_file), and only then starts the new services. They write while
    the proof runs, and it still compares the instant of the freeze.
  - Sequences are not compared (no snapshot covers them); the cutover carries them and reads them back
    before the snapshots are taken (M(dbsplit_online_switch)).
  - Fails on any difference, naming the target. Only reads; in check mode it compares without writing O(ready_file).
requirements:
  - psycopg >= 3.1 (psycopg 3, python3-psycopg on Debian 12) for the managed host's Python
options:
  jobs:
    description: Scans at once, over every target (each side of each table is one scan).
    type: int
    default: 2
  ready_file:
    description: File written once every snapshot is held (what the snapshots are called, and when).
    type: path
    required: true
  after_file:
    description: Take the snapshots only once this file exists; fail if it does not appear within O(after_timeout).
    type: path
  after_timeout:
    description: How long to wait for O(after_file), and for O(scan_after_file), in seconds.
    type: int
    default: 600
  sample_keys:
    description: Keys shown per kind of difference (missing, extra, different) of a table that differs (M(dbsplit_verify)'s O(sample_keys)).
    type: int
    default: 20
  scan_after_file:
    description:
      - Once the snapshots are held, wait for this file before scanning (the cutover writes it once the new services
        are healthy, whose start the scans would slow); after O(after_timeout) it scans anyway.
    type: path
extends_documentation_fragment:
  - yemma.dbsplit.connection.SOURCE
  - yemma.dbsplit.connection.TARGETS
attributes:
  check_mode:
    support: full
    description: Compares without waiting for O(after_file) or O(scan_after_file) and without writing O(ready_file).
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: 9-cutover | Start the proof on snapshots of both sides taken now
  dbsplit_snapshot_proof:
    source: "{{ dbsplit_endpoints.source.connection }}"
    targets: "{{ dbsplit_cutover_plan.targets | yemma.dbsplit.with_endpoints(dbsplit_endpoints.targets, 'connection') }}"
    ready_file: /var/backups/yemma-dbsplit/proof/run.ready
    after_file: /var/backups/yemma-dbsplit/proof/run.switched
  async: 7200
  poll: 0
"""

RETURN = r"""
tables:
  description: Per target key, per table C({table, rows, source_rows, checksum, source_checksum, bytes, seconds}).
  returned: always
  type: dict
  sample:
    yemma-postgres-auth/auth_db:
      - {table: public.users, rows: 1520, source_rows: 1520, checksum: 2d711642b726b04401627ca9fbac32f5,
         source_checksum: 2d711642b726b04401627ca9fbac32f5, bytes: 253952, seconds: 0.05}
differences:
  description: Every difference found, each naming its target; empty when every target is proven equal.
  returned: always
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yemma.dbsplit.plugins.module_utils import online, pgconn, verify


def main():
    module = AnsibleModule(
        argument_spec=dict(
            source=dict(type="dict", required=True, options=pgconn.CONNECTION_OPTIONS),
            targets=pgconn.targets_option(pgconn.CONNECTION_OPTIONS),
            jobs=dict(type="int", default=2),
            ready_file=dict(type="path", required=True),
            after_file=dict(type="path"),
            after_timeout=dict(type="int", default=600),
            scan_after_file=dict(type="path"),
            sample_keys=dict(type="int", default=20),
        ),
        supports_check_mode=True,
    )
    psycopg = pgconn.import_psycopg(module)
    params = module.params
    if params["after_file"] and not module.check_mode and not online.wait_for_file(params["after_file"],
                                                                                     params["after_timeout"]):
        module.fail_json(msg=f"{params['after_file']} did not appear within {params['after_timeout']} s: "
                             "no snapshot was taken (the cutover did not switch the targets)")
    try:
        # A check run writes nothing, the ready file included.
        tables, differences = verify.prove_on_snapshots(
            psycopg, params["source"], params["targets"], params["jobs"], None if module.check_mode else params["ready_file"],
            # The services start first (scanning would slow their start); after_timeout bounds the wait, then it scans anyway.
            (lambda: online.wait_for_file(params["scan_after_file"], params["after_timeout"]))
            if params["scan_after_file"] and not module.check_mode else None, params["sample_keys"])
    except psycopg.Error as exc:
        module.fail_json(msg=f"cannot take the snapshots of the proof: {exc}", tables={}, differences=[])
    if differences:
        module.fail_json(msg="the targets differ from the source at the freeze:\n- " + "\n- ".join(differences),
                         tables=tables, differences=differences)
    module.exit_json(changed=False, tables=tables, differences=[])


if __name__ == "__main__":
    main()
