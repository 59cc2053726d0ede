#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_schema_info
short_description: Tell what a service database holds - the map's tables, rows, Alembic's version
description:
  - For each service of the map that lives in the target database, which of its tables exist and
    which are missing, and the revisions its Alembic version table records (null when there is
    no version table).
  - Which user tables hold rows (Alembic's version tables aside), for an installation that must
    start from empty databases.
  - The runbook's trap, a C(stamp head) on an empty database (Alembic at head, tables missing), is
    returned as a problem with the fix.
  - With I(source) and I(target_plan), compares each table the plan gives the target with the
    source, as a reset from the migration backup would replace it (C(missing), C(equal), C(differs)).
  - Only reads, so it runs in check mode too.
requirements:
  - psycopg >= 3.1 (psycopg 3, python3-psycopg on Debian 12) for the managed host's Python
options:
  services:
    description:
      - The services of C(dbsplit_services) whose tables are in this database (name -> C(tables),
        C(alembic.version_table)).
    type: dict
    required: true
  keep_data:
    description: Whether tables holding rows are accepted (an installation told to keep them).
    type: bool
    default: false
  reset_command:
    description: The command that repairs a service, with C({service}) where its name goes; said in the problems.
    type: str
    required: true
  # Its suboptions come from the fragment yemma.dbsplit.connection.SOURCE; here it is optional.
  source:
    description: Connection to the source database (the frozen monolith), to compare the plan's tables with it.
    type: dict
    required: false
  target_plan:
    description: The plan's entry for this target (its tables), with I(source).
    type: dict
    required: false
extends_documentation_fragment:
  - yemma.dbsplit.connection.SOURCE
  - yemma.dbsplit.connection.TARGET
attributes:
  check_mode:
    support: full
    description: Only reads, so a check run reads the database as any run does.
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: Install | Read what candidate_db holds
  dbsplit_schema_info:
    target: "{{ dbsplit_endpoints.targets['yemma-postgres-candidate/candidate_db'].connection }}"
    services: {candidate: "{{ dbsplit_services.candidate }}"}
    reset_command: ansible-playbook reset.yml -l prod -e service={service}
"""

RETURN = r"""
services:
  description: Per service, C(tables) found (as PostgreSQL prints them), C(missing) (as the map writes them), C(version_table) and C(alembic) (its revisions, or null).
  returned: always
  type: list
  elements: dict
  sample: [{service: candidate, tables: [profiles, skills], missing: [], version_table: alembic_version_candidate,
            alembic: [7f2e8a4c6b31]}]
data:
  description: User tables holding rows, C(table) and C(rows) (an estimate, at least 1).
  returned: always
  type: list
  elements: dict
  sample: [{table: profiles, rows: 1200}]
problems:
  description: What stops an installation on this database, each with its fix.
  returned: always
  type: list
  elements: str
  sample:
    - "candidate_db already holds data: profiles (~1200 rows). An installation starts from empty databases: if this
      data is the platform's, it is migrated (migrate.yml) or kept as it is with -e install_keep_data=true (only what
      is missing is created)"
losses:
  description: With I(source), per table of the plan, C(state) (C(missing), C(equal), C(differs)), C(rows) now and C(source_rows).
  returned: when source is given
  type: list
  elements: dict
  sample: [{table: public.profiles, state: differs, rows: 1212, source_rows: 1200},
           {table: public.skills, state: missing, rows: null, source_rows: 5400}]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yemma.dbsplit.plugins.module_utils import pgconn, schema, target, verify


def main():
    module = AnsibleModule(
        argument_spec=dict(
            target=dict(type="dict", required=True, options=pgconn.CONNECTION_OPTIONS),
            services=dict(type="dict", required=True),
            keep_data=dict(type="bool", default=False),
            reset_command=dict(type="str", required=True),
            source=dict(type="dict", options=pgconn.CONNECTION_OPTIONS),
            target_plan=dict(type="dict"),
        ),
        required_together=[("source", "target_plan")],
        supports_check_mode=True,
    )
    psycopg = pgconn.import_psycopg(module)
    params = module.params
    database = params["target"]["db"]
    try:
        conn = pgconn.connect(psycopg, params["target"])
    except psycopg.OperationalError as exc:
        module.fail_json(msg=f"{database}: {target.login_refused(params['target']['login_user'], database, exc)}")
    result = {}
    try:
        with conn:
            states = [schema.service_state(conn, name, spec) for name, spec in sorted(params["services"].items())]
            version_tables = {s["version_table"] for s in states if s["alembic"] is not None}
            data = schema.tables_with_rows(conn, ignored={schema.find_table(conn, t) for t in version_tables})
            if params["source"]:
                with pgconn.connect(psycopg, params["source"]) as source:
                    leaves = verify.planned_relations(params["target_plan"])[1]
                    result["losses"] = schema.table_losses(source, conn, leaves)
    except psycopg.Error as exc:
        module.fail_json(msg=f"cannot read {database}: {exc}")
    problems = schema.problems(database, states, data, params["keep_data"], params["reset_command"])
    module.exit_json(changed=False, services=states, data=data, problems=problems, **result)


if __name__ == "__main__":
    main()
