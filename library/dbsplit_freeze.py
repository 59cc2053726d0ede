#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_freeze
short_description: Freeze a PostgreSQL database against writes, or thaw it
description:
  - C(frozen) sets C(default_transaction_read_only) on the database and terminates every
    other session connected to it, so nothing can be written after the backup is taken.
    It is the only change the migration makes to the source, and C(thawed) reverses it.
  - Idempotent, and reports what it would change in check mode.
options:
  state:
    description: C(frozen) to stop writes, C(thawed) to allow them again.
    type: str
    choices: [frozen, thawed]
    required: true
extends_documentation_fragment:
  - yemma.dbsplit.connection.SOURCE
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: 3-stop | Freeze the monolith so nothing written after the backup can be lost
  dbsplit_freeze:
    source: "{{ dbsplit_source_connection }}"
    state: frozen
"""

RETURN = r"""
frozen:
  description: Whether the database is frozen after the task.
  returned: always
  type: bool
terminated_sessions:
  description: Number of other sessions terminated when freezing.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yemma.dbsplit.plugins.module_utils import pgconn

FROZEN_SQL = """
SELECT coalesce('default_transaction_read_only=on' = ANY(s.setconfig), false)
FROM pg_database d
LEFT JOIN pg_db_role_setting s ON s.setdatabase = d.oid AND s.setrole = 0
WHERE d.datname = current_database()
"""

TERMINATE_SQL = """
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


def main():
    module = AnsibleModule(
        argument_spec=dict(
            source=dict(type="dict", required=True, options=pgconn.CONNECTION_OPTIONS),
            state=dict(type="str", required=True, choices=["frozen", "thawed"]),
        ),
        supports_check_mode=True,
    )
    psycopg = pgconn.import_psycopg(module)
    want_frozen = module.params["state"] == "frozen"
    database = pgconn.quote_ident(module.params["source"]["db"])
    try:
        with pgconn.connect(psycopg, module.params["source"]) as conn:
            frozen = conn.execute(FROZEN_SQL).fetchone()[0]
            if frozen == want_frozen or module.check_mode:
                module.exit_json(changed=frozen != want_frozen, frozen=frozen, terminated_sessions=0)
            if want_frozen:
                conn.execute(f"ALTER DATABASE {database} SET default_transaction_read_only = on")
                # Sessions opened before the setting keep writing: end them.
                terminated = conn.execute(TERMINATE_SQL).fetchone()[0]
            else:
                # This session started read-only too: lift that for itself first.
                conn.execute("SET default_transaction_read_only = off")
                conn.execute(f"ALTER DATABASE {database} RESET default_transaction_read_only")
                terminated = 0
        # Prove it from a new session, as an application would see it.
        with pgconn.connect(psycopg, module.params["source"]) as conn:
            read_only = conn.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
    except psycopg.Error as exc:
        module.fail_json(msg=f"cannot {module.params['state'][:-2]} {module.params['source']['db']}: {exc}")
    if read_only != want_frozen:
        module.fail_json(msg=f"{module.params['source']['db']} is still {'writable' if want_frozen else 'read-only'} "
                             "for new sessions: a role-level setting overrides the database's")
    module.exit_json(changed=True, frozen=want_frozen, terminated_sessions=terminated)


if __name__ == "__main__":
    main()
