#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_online_bulk
short_description: "Online mode: copy every target's rows from one snapshot of the monolith each, data first, paced"
description:
  - For each target whose schema is restored without rows, indexes or constraints (M(dbsplit_restore)
    C(part=before_rows), marker C(schema)), the monolith publishes its tables (publication named like the
    target's subscription, yemma.dbsplit.online_name), a logical slot of that name is created with an exported
    snapshot, and every table is copied from that snapshot with C(COPY ... TO STDOUT) streamed into
    C(COPY ... FROM STDIN) (binary when both servers run one major version and every column type has binary I/O).
  - A table larger than O(part_mb) is copied in block ranges at once (PostgreSQL 14 and later on the monolith).
    At most O(jobs) parts run at once over every target, the largest first; before each part the copy waits while
    the host's load per core passes O(max_load_per_core) or a standby of the monolith lags more than
    O(max_standby_lag) seconds.
  - Each target is marked C(copying) before its slot is created and C(copied) once its last part is written. A
    target already copied (or built since) is kept; a run killed mid-copy leaves C(copying), which the next run's
    schema restore rebuilds from empty (the old slot is dropped and the copy starts again from a new snapshot).
  - Then M(dbsplit_restore) C(part=after_rows) builds the indexes and constraints, and M(dbsplit_online_copy)
    C(state=present) subscribes each target to its slot (the changes since the snapshot stream).
  - A published table without a primary key fails the task unless listed in O(full_identity) (C(REPLICA IDENTITY
    FULL) on the monolith).
  - In check mode, reports what it would copy (tables, parts, bytes, format) and changes nothing.
requirements:
  - psycopg >= 3.1 (psycopg 3, python3-psycopg on Debian 12) for the managed host's Python
options:
  state:
    description:
      - C(copied) copies every target not copied yet.
      - C(stopped) only ends a copy a killed run left running in the background (found by O(pid_file)), so that it
        writes nothing into a target that is then rebuilt or reset; the transfer and the rollback start with it.
    type: str
    choices: [copied, stopped]
    default: copied
  pid_file:
    description: File that holds the running copy's pid (the copy runs as a background job, which outlives a killed run).
    type: path
    required: true
  full_identity:
    description: Tables without a primary key published with C(REPLICA IDENTITY FULL) (as the plan prints them).
    type: list
    elements: str
    default: []
  jobs:
    description: Parts copied at once, over every target (each is a reading and a writing session).
    type: int
    default: 2
  part_mb:
    description: A table larger than this (MB, heap and TOAST) is copied in parts of about this size at once. 0 copies each table whole.
    type: int
    default: 256
  max_load_per_core:
    description: The next part waits while the host's 1-minute load average per core is above this. 0 for no limit.
    type: float
    default: 0.0
  max_standby_lag:
    description: The next part waits while a standby of the monolith replays more than this many seconds behind. 0 for no limit.
    type: float
    default: 1.0
  progress_file:
    description: File rewritten as the tables are copied (JSON with a C(line)), for M(dbsplit_progress) while this runs in the background.
    type: path
extends_documentation_fragment:
  - yemma.dbsplit.connection.SOURCE
  - yemma.dbsplit.connection.TARGETS
attributes:
  check_mode:
    support: full
    description: Reports what it would copy; creates no publication or slot and writes no row.
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: 6-transfer | Copy every target's rows while the old services serve (in the background)
  dbsplit_online_bulk:
    source: "{{ dbsplit_endpoints.source.connection }}"
    targets: "{{ plan.targets | yemma.dbsplit.with_endpoints(dbsplit_endpoints.targets, 'connection') }}"
    jobs: 2
    progress_file: /var/backups/yemma-dbsplit/copy.progress
    pid_file: /var/backups/yemma-dbsplit/online-copy.pid
  async: 21600
  poll: 0

- name: 6-transfer | Stop a copy a killed run left running
  dbsplit_online_bulk:
    source: "{{ dbsplit_endpoints.source.connection }}"
    targets: "{{ plan.targets | yemma.dbsplit.with_endpoints(dbsplit_endpoints.targets, 'connection') }}"
    pid_file: /var/backups/yemma-dbsplit/online-copy.pid
    state: stopped
"""

RETURN = r"""
copies:
  description: Per target key, what was (would be) copied.
  returned: always
  type: dict
  sample:
    yemma-postgres-notification/notification_db:
      label: notification_db
      action: copy
      tables: 1
      parts: 4
      bytes: 197132288
      rows: 602772
      format: binary
      seconds: 21.4
  contains:
    label: {description: The target's label., type: str}
    action: {description: "C(copy), or C(done) (copied by an earlier run: kept).", type: str}
    tables: {description: Tables (partitions counted) copied., type: int}
    parts: {description: Parts the tables are copied in., type: int}
    bytes: {description: "Size of those tables on the monolith (heap and TOAST, no index).", type: int}
    rows: {description: Rows written (0 when kept or in check mode)., type: int}
    format: {description: C(binary) or C(text)., type: str}
    seconds: {description: From the start of the copy to this target's last part., type: float}
seconds:
  description: How long the copy of every target took.
  returned: always
  type: float
  sample: 48.2
paused_seconds:
  description: Seconds the parts waited for the host's load or a standby's lag (summed over the waits).
  returned: always
  type: float
  sample: 12.0
stopped_pid:
  description: The pid of the copy a killed run left running, ended now; null when none ran.
  returned: always
  type: int
  sample: 41237
pauses:
  description: How many times a part waited (C(count)), and the last reason of each kind (C(load), C(standby_lag)).
  returned: always
  type: dict
  sample: {count: 2, load: "host load 2.4 per core > 2"}
"""

import contextlib
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yemma.dbsplit.plugins.module_utils import bulkcopy, pgconn, reverse


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", default="copied", choices=["copied", "stopped"]),
            pid_file=dict(type="path", required=True),
            source=dict(type="dict", required=True, options=pgconn.CONNECTION_OPTIONS),
            targets=pgconn.targets_option(pgconn.CONNECTION_OPTIONS),
            full_identity=dict(type="list", elements="str", default=[]),
            jobs=dict(type="int", default=2),
            part_mb=dict(type="int", default=256),
            max_load_per_core=dict(type="float", default=0.0),
            max_standby_lag=dict(type="float", default=1.0),
            progress_file=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    psycopg = pgconn.import_psycopg(module)
    params = module.params
    result = {"copies": {}, "seconds": 0.0, "paused_seconds": 0.0, "pauses": {"count": 0}}
    # A check run ends nothing; it only says whether a copy runs.
    result["stopped_pid"] = None if module.check_mode else bulkcopy.stop_stale(params["pid_file"])
    if params["state"] == "stopped":
        module.exit_json(changed=result["stopped_pid"] is not None, **result)
    pacer = bulkcopy.Pacer(psycopg, params["source"], params["max_load_per_core"], params["max_standby_lag"])
    progress = bulkcopy.CopyProgress(params["progress_file"], pacer)
    started = time.monotonic()
    try:
        with contextlib.ExitStack() as running:
            if not module.check_mode:
                running.enter_context(bulkcopy.pid_recorded(params["pid_file"]))
            copies = bulkcopy.copy_all(psycopg, params["source"], params["targets"], params["full_identity"],
                                       params["jobs"], params["part_mb"] << 20, pacer, progress, module.check_mode)
    except (bulkcopy.CopyError, reverse.ReverseError, psycopg.Error, OSError) as exc:
        module.fail_json(msg=f"online copy: {str(exc).strip()}. The old services serve on, unchanged; run migrate.yml "
                             "again to copy the targets not copied (a target left half copied is rebuilt first)")
    result.update(copies=copies, seconds=round(time.monotonic() - started, 1),
                  paused_seconds=round(pacer.paused_seconds, 1), pauses={"count": pacer.pauses, **pacer.reasons})
    module.exit_json(changed=any(c["action"] == "copy" for c in copies.values()) or result["stopped_pid"] is not None,
                     **result)


if __name__ == "__main__":
    main()
