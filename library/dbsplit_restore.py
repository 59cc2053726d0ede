#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_restore
short_description: Restore one target database's share of the full backup, in parallel
description:
  - Selects from the backup's table of contents exactly the planned tables, their data and
    every object they need (see M(dbsplit_plan)), without the foreign keys that cross
    databases (and the source's large objects, if the plan gives them to this target), and
    runs C(pg_restore --use-list --jobs --exit-on-error) with the target
    server's own client tools, in a one-off container on its network.
  - The target must be empty, or hold what an earlier run of this tool restored from the
    same plan. A target restored from the same plan and backup is kept (no change); one
    left half-restored by a killed run, or restored from an older backup, is emptied and
    restored again, never appended to. Anything else is refused.
  - Sequences continue after the copied ids (their values are in the backup).
  - In check mode, reports what it would do with the target.
options:
  target_plan:
    description: This target's entry of the plan's C(targets).
    type: dict
    required: true
  plan_hash:
    description: The plan's C(hash), recorded in the target to recognise it on a later run.
    type: str
    required: true
  manifest:
    description: The backup manifest returned by M(dbsplit_backup).
    type: dict
    required: true
  jobs:
    description: Parallel pg_restore jobs for this target.
    type: int
    default: 2
  work_dir:
    description: Host directory for the restore lists.
    type: path
    required: true
  without_rows:
    description:
      - Leave the planned tables' rows out (in online mode the target's subscription copies them while the old
        services serve). Their definitions, indexes, constraints and what they need are restored.
    type: bool
    default: false
extends_documentation_fragment:
  - yemma.dbsplit.connection.TARGET_RUNTIME
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: 6-transfer | Restore auth_db's share of the backup
  dbsplit_restore:
    target: "{{ dbsplit_targets_runtime['auth_db'] }}"
    target_plan: "{{ plan.targets[0] }}"
    plan_hash: "{{ plan.hash }}"
    manifest: "{{ backup.manifest }}"
    work_dir: /var/backups/yemma-dbsplit/lists
"""

RETURN = r"""
action:
  description: What was done, C(restore) (empty target), C(rebuild) (emptied first) or C(keep).
  returned: always
  type: str
entries:
  description: Number of TOC entries restored.
  returned: when restored
  type: int
seconds:
  description: Duration of pg_restore.
  returned: when restored
  type: float
maintenance_work_mem_mb:
  description: Memory per index build given to the restore's sessions, sized to the target container's limit.
  returned: when restored
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yemma.dbsplit.plugins.module_utils import pgconn, pgtools, restore, target, toc


def main():
    module = AnsibleModule(
        argument_spec=dict(
            target=dict(type="dict", required=True, options=pgconn.RUNTIME_OPTIONS),
            target_plan=dict(type="dict", required=True),
            plan_hash=dict(type="str", required=True),
            manifest=dict(type="dict", required=True),
            jobs=dict(type="int", default=2),
            work_dir=dict(type="path", required=True),
            without_rows=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    psycopg = pgconn.import_psycopg(module)
    params = module.params
    database = params["target_plan"]["label"]
    try:
        if not module.check_mode:
            pgtools.remove_stale(restore.container_name(params["target"]["tool_name"], params["target_plan"]))
        with pgconn.connect(psycopg, params["target"]) as conn:
            info = target.inspect(conn, params["target"]["tool_name"])
            action, why = target.verdict(info, params["plan_hash"], params["manifest"]["id"])
            if action == "refuse":
                module.fail_json(msg=f"target {database} {why}", target_state=info)
            if action == "keep" or module.check_mode:
                module.exit_json(changed=action != "keep", action=action, target_state=info)
            version = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()[0]
            pgtools.check_client_version(params["target"]["tools_image"], "pg_restore", version)
            figures = restore.restore(conn, pgconn.tools_runtime(params["target"]),
                                      params["target"]["login_password"], params["target_plan"],
                                      params["manifest"], params["plan_hash"], action == "rebuild",
                                      params["jobs"], params["work_dir"], params["target"]["memory_limit"],
                                      params["without_rows"])
    except (psycopg.Error, pgtools.ToolError, toc.TocError, OSError, ValueError) as exc:
        module.fail_json(msg=f"restore of {database} failed (a run again rebuilds it from empty): {exc}")
    module.exit_json(changed=True, action=action, **figures)


if __name__ == "__main__":
    main()
