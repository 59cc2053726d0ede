#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_restore
short_description: Restore every target database's share of the full backup, side by side
description:
  - Every target in one task, each restored in its own C(pg_restore --jobs) at the same time as the others; the archive
    is checked against its recorded checksum once, for all.
  - Selects from the backup's table of contents exactly the planned tables, their data and
    every object they need (see M(dbsplit_plan)), without the foreign keys that cross
    databases (and the source's large objects, if the plan gives them to this target), and
    runs C(pg_restore --use-list --jobs --exit-on-error) with the target
    server's own client tools, in a one-off container on its network.
  - The target must be empty, or hold what an earlier run of this tool restored from the
    same plan. A target restored from the same plan and backup is kept (no change); one
    left half-restored by a killed run, or restored from an older backup, is emptied and
    restored again, never appended to. Anything else is refused, and every target is judged before any is
    touched, so a refusal changes nothing.
  - Sequences continue after the copied ids (their values are in the backup).
  - In check mode, reports what it would do with each target.
requirements:
  - psycopg >= 3.1 (psycopg 3, python3-psycopg on Debian 12) for the managed host's Python
options:
  plan_hash:
    description: The plan's C(hash), recorded in the target to recognise it on a later run.
    type: str
    required: true
  manifest:
    description: The backup manifest returned by M(dbsplit_backup).
    type: dict
    required: true
  jobs:
    description: Parallel pg_restore jobs for each target.
    type: int
    default: 2
  targets_at_once:
    description:
      - How many targets restore at the same time (each with O(jobs) pg_restore jobs); the others wait their turn.
        0 restores them all at once.
      - Online mode builds its indexes while the services serve beside it, so it bounds the builds sharing the cores.
    type: int
    default: 0
  work_dir:
    description: Host directory for the restore lists.
    type: path
    required: true
  part:
    description:
      - What to restore. C(whole) (offline mode) restores all of the target's share.
      - Online mode restores it in two parts around the copy of the rows (M(dbsplit_online_bulk)).
        C(before_rows) restores what the rows go into (the tables without rows, their types, functions, sequences;
        no index, constraint or trigger) and marks the target C(schema). C(after_rows), on a target whose rows
        the copy brought (marked C(copied)), builds the indexes, constraints and triggers in parallel
        (C(--jobs)), then ANALYZEs the target; a target already built is kept, any other refused.
    type: str
    choices: [whole, before_rows, after_rows]
    default: whole
  timeout:
    description: Seconds each target's pg_restore may take; then it is stopped and the task fails.
    type: int
    default: 7200
extends_documentation_fragment:
  - yemma.dbsplit.connection.TARGETS_RUNTIME
attributes:
  check_mode:
    support: full
    description: Reports what it would do with each target; nothing is restored.
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: 6-transfer | Restore every target's share of the backup
  dbsplit_restore:
    targets: "{{ plan.targets | yemma.dbsplit.with_endpoints(dbsplit_endpoints.targets, 'runtime') }}"
    plan_hash: "{{ plan.hash }}"
    manifest: "{{ backup.manifest }}"
    work_dir: /var/backups/yemma-dbsplit/lists
"""

RETURN = r"""
seconds:
  description: Wall time of the whole task's restores, in seconds (targets restoring side by side, O(targets_at_once) at a time).
  returned: always
  type: float
  sample: 37.9
restores:
  description: Per target key, what was done with it.
  returned: always
  type: dict
  sample:
    yemma-postgres-auth/auth_db:
      label: auth_db
      action: restore
      target_state: {state: empty, plan: null, backup: null, objects: 0}
      entries: 57
      seconds: 4.12
      maintenance_work_mem_mb: 256
  contains:
    label: {description: The target's label., type: str}
    action: {description: "What was done (would be, in check mode): C(restore) (empty target; copied rows, for C(after_rows)), C(rebuild) (emptied first) or C(keep).", type: str}
    target_state: {description: "What the target held before: its marker's state, plan and backup.", type: dict}
    entries: {description: Number of TOC entries restored (when restored)., type: int}
    seconds: {description: Duration of pg_restore (when restored)., type: float}
    maintenance_work_mem_mb: {description: "Memory per index build given to the restore's sessions, sized to the container's limit.", type: int}
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yemma.dbsplit.plugins.module_utils import pgconn, pgtools, restore, toc


def main():
    module = AnsibleModule(
        argument_spec=dict(
            targets=pgconn.targets_option(pgconn.RUNTIME_OPTIONS),
            plan_hash=dict(type="str", required=True),
            manifest=dict(type="dict", required=True),
            jobs=dict(type="int", default=2),
            targets_at_once=dict(type="int", default=0),
            work_dir=dict(type="path", required=True),
            part=dict(type="str", default="whole", choices=list(restore.PARTS)),
            timeout=dict(type="int", default=7200),
        ),
        supports_check_mode=True,
    )
    psycopg = pgconn.import_psycopg(module)
    params = module.params
    started = time.monotonic()
    try:
        restores = restore.restore_all(psycopg, params["targets"], params["manifest"], params["plan_hash"], params["jobs"],
                                       params["work_dir"], params["part"], module.check_mode, params["timeout"],
                                       params["targets_at_once"])
    except restore.Refused as exc:
        module.fail_json(msg=f"{exc}\nNo target was changed.")
    except (restore.RestoreFailed, psycopg.Error, pgtools.ToolError, toc.TocError, OSError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=any(figures["action"] != "keep" for figures in restores.values()), restores=restores,
                     seconds=round(time.monotonic() - started, 1))


if __name__ == "__main__":
    main()
