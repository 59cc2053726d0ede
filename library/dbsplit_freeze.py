#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_freeze
short_description: Freeze a PostgreSQL database against writes, prove it held, or thaw it
description:
  - C(frozen) sets C(default_transaction_read_only) on the database and ends every other
    session connected to it. It is the only change the migration makes to the source, and
    C(thawed) reverses it.
  - A login role whose own setting turns C(default_transaction_read_only) off would write
    through the freeze. The module refuses to freeze then, and reports it in check mode as a
    problem (the preflight lists it before any change).
  - When frozen, returns the database's write signature (each table's insert, update and
    delete counters and file), read after the other sessions ended. With O(unchanged_since),
    fails unless the signature is still that one. A session that turned read-only off for
    itself and wrote is caught before the services start on the targets.
  - Idempotent, and reports what it would change in check mode.
requirements:
  - psycopg >= 3.1 (psycopg 3, python3-psycopg on Debian 12) for the managed host's Python
options:
  state:
    description: C(frozen) to stop writes, C(thawed) to allow them again.
    type: str
    choices: [frozen, thawed]
    required: true
  unchanged_since:
    description:
      - A write signature this module returned earlier (the backup's). With C(state=frozen),
        the task fails, naming each table that changed, unless the signature is unchanged.
    type: dict
  planned_tables:
    description:
      - Every table, partition and table left behind of the plan, as the plan names them. The task
        fails, naming each, when the source has a table that is none of them (created after the
        plan was read, so its rows would stay behind). Read in check mode too.
    type: list
    elements: str
extends_documentation_fragment:
  - yemma.dbsplit.connection.SOURCE
attributes:
  check_mode:
    support: full
    description: Reports whether the state would change and what would stop the freeze; nothing is frozen or thawed.
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: 4-stop | Freeze the monolith so nothing written after the backup can be lost
  dbsplit_freeze:
    source: "{{ dbsplit_endpoints.source.connection }}"
    state: frozen

- name: 9-cutover | Prove that nothing was written to the monolith since the backup
  dbsplit_freeze:
    source: "{{ dbsplit_endpoints.source.connection }}"
    state: frozen
    unchanged_since: "{{ dbsplit_run.steps.backup.result.write_signature }}"
"""

RETURN = r"""
frozen:
  description: Whether the database is frozen after the task (would be, in check mode).
  returned: always
  type: bool
  sample: true
terminated_sessions:
  description: Number of other sessions ended.
  returned: always
  type: int
  sample: 3
signature:
  description: "The write signature, C({table: [inserted, updated, deleted, file]}), when frozen (not in check mode)."
  returned: when frozen
  type: dict
  sample: {public.payments: [9812, 240, 0, 16425], public.users: [1520, 87, 4, 16412]}
problems:
  description: What would stop the freeze (a role that overrides it), each with its fix.
  returned: always
  type: list
  elements: str
  sample:
    - 'role reporting turns default_transaction_read_only off for itself (in every database), so its sessions would
      write through the freeze: ALTER ROLE "reporting" RESET default_transaction_read_only (set it again after the
      migration if it is needed)'
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yemma.dbsplit.plugins.module_utils import freeze, pgconn


def main():
    module = AnsibleModule(
        argument_spec=dict(
            source=dict(type="dict", required=True, options=pgconn.CONNECTION_OPTIONS),
            state=dict(type="str", required=True, choices=["frozen", "thawed"]),
            unchanged_since=dict(type="dict"),
            planned_tables=dict(type="list", elements="str"),
        ),
        supports_check_mode=True,
    )
    psycopg = pgconn.import_psycopg(module)
    params = module.params
    want_frozen = params["state"] == "frozen"
    database = pgconn.quote_ident(params["source"]["db"])
    terminated, signature = 0, None
    try:
        with pgconn.connect(psycopg, params["source"]) as conn:
            frozen = freeze.is_frozen(conn)
            problems = freeze.overrides(conn) if want_frozen else []
            unplanned = freeze.unplanned_tables(conn, params["planned_tables"]) if params["planned_tables"] is not None else []
            if unplanned:
                module.fail_json(msg=freeze.unplanned_problem(params["source"]["db"], unplanned), unplanned_tables=unplanned,
                                 problems=problems)
            if module.check_mode:
                module.exit_json(changed=frozen != want_frozen, frozen=frozen, terminated_sessions=0, problems=problems)
            if problems:
                module.fail_json(msg="the freeze would not hold:\n- " + "\n- ".join(problems), problems=problems)
            if want_frozen and not frozen:
                terminated = freeze.freeze(conn)
            elif frozen and not want_frozen:
                # This session started read-only too: lift that for itself first.
                conn.execute("SET default_transaction_read_only = off")
                conn.execute(f"ALTER DATABASE {database} RESET default_transaction_read_only")
        # Prove it from a new session, as an application would see it.
        with pgconn.connect(psycopg, params["source"]) as conn:
            read_only = conn.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
            if want_frozen and read_only:
                signature = freeze.write_signature(conn)
    except (psycopg.Error, freeze.FreezeError) as exc:
        module.fail_json(msg=f"cannot {params['state'][:-2]} {params['source']['db']}: {exc}")
    if read_only != want_frozen:
        module.fail_json(msg=f"{params['source']['db']} is still {'writable' if want_frozen else 'read-only'} "
                             "for new sessions: a role-level setting overrides the database's")
    changed = frozen != want_frozen
    if params["unchanged_since"] is not None and want_frozen:
        changes = freeze.signature_changes(params["unchanged_since"], signature)
        if changes:
            module.fail_json(msg=f"rows of {params['source']['db']} changed since the backup, so the targets miss them: "
                                 "a session wrote through the freeze (or the statistics were reset by a crash or "
                                 "pg_stat_reset). The services must not start on the targets; put the platform back "
                                 "on the monolith (rollback.yml) and migrate again, which takes a new backup:\n- "
                                 + "\n- ".join(changes), changes=changes)
    module.exit_json(changed=changed, frozen=want_frozen, terminated_sessions=terminated, signature=signature,
                     problems=[])


if __name__ == "__main__":
    main()
