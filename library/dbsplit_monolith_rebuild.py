#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_monolith_rebuild
short_description: Rebuild the monolith's database from the migration backup (its volume was lost)
description:
  - Restores the migration backup (a pg_dump custom archive, its sha256 checked first) into the
    monolith's database, freshly created by its container on a new volume, with pg_restore in a
    tools container, in parallel, stopping at the first error.
  - I(empty_tables) are restored without their rows (definitions, indexes, constraints kept). They are
    the tables of the new databases, which a reverse stream then copies back with what the
    services wrote since the cutover.
  - Refuses a database holding anything this tool did not restore from that backup; a restore
    killed halfway is started again from empty; a finished one is kept (idempotent).
  - In check mode it only says what it would do.
requirements:
  - psycopg >= 3.1 (psycopg 3, python3-psycopg on Debian 12) for the managed host's Python
options:
  manifest:
    description: The backup's manifest, as the backup phase recorded it (C(archive), C(sha256), C(id)).
    type: dict
    required: true
  empty_tables:
    description: Oids of the tables (in the backup's source) restored without their rows.
    type: list
    elements: int
    default: []
  jobs:
    description: pg_restore --jobs.
    type: int
    default: 2
  work_dir:
    description: Directory on the host for the restore's list file (private).
    type: path
    required: true
extends_documentation_fragment:
  - yemma.dbsplit.connection.SOURCE_RUNTIME
attributes:
  check_mode:
    support: full
    description: Only says what it would do (RV(action)); nothing is restored.
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: Rollback | Rebuild yemma_db from the migration backup
  dbsplit_monolith_rebuild:
    source: "{{ dbsplit_endpoints.source.runtime }}"
    manifest: "{{ dbsplit_run.steps.backup.result.manifest }}"
    empty_tables: [16390, 16402]
    work_dir: /var/backups/yemma-dbsplit/lists
"""

RETURN = r"""
action:
  description: C(restore), C(rebuild) (a restore killed halfway, started again) or C(keep) (already restored from this backup).
  returned: always
  type: str
  sample: restore
entries:
  description: Archive entries restored.
  returned: when restored
  type: int
  sample: 412
tables_left_empty:
  description: How many tables of O(empty_tables) were restored without their rows.
  returned: when restored
  type: int
  sample: 2
seconds:
  description: Time pg_restore took.
  returned: when restored
  type: float
  sample: 38.27
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yemma.dbsplit.plugins.module_utils import pgconn, pgtools, rebuild, target, toc


def main():
    module = AnsibleModule(
        argument_spec=dict(
            source=dict(type="dict", required=True, options=pgconn.RUNTIME_OPTIONS),
            manifest=dict(type="dict", required=True),
            empty_tables=dict(type="list", elements="int", default=[]),
            jobs=dict(type="int", default=2),
            work_dir=dict(type="path", required=True),
        ),
        supports_check_mode=True,
    )
    psycopg = pgconn.import_psycopg(module)
    params = module.params
    database = params["source"]["db"]
    try:
        with pgconn.connect(psycopg, params["source"]) as conn:
            info = target.inspect(conn, params["source"]["tool_name"])
            action, why = rebuild.verdict(info, params["manifest"]["id"])
            if action == "refuse":
                module.fail_json(msg=f"{database} {why}", previous_state=info)
            if action == "keep" or module.check_mode:
                module.exit_json(changed=action != "keep", action=action)
            figures = rebuild.restore(conn, pgconn.tools_runtime(params["source"]), params["source"]["login_password"],
                                      params["manifest"], params["empty_tables"], params["jobs"], params["work_dir"],
                                      action == "rebuild")
    except (psycopg.Error, pgtools.ToolError, toc.TocError, OSError) as exc:
        module.fail_json(msg=f"rebuild of {database} from the backup failed (run again: it starts from empty): {exc}")
    module.exit_json(changed=True, action=action, **figures)


if __name__ == "__main__":
    main()
