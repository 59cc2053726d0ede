#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_alembic_stamp
short_description: Stamp every Alembic service at its head on its new database, all at once
description:
  - For each service, runs C(alembic heads) in a one-off container of the service (C(docker compose run --rm --no-deps),
    as the runbook does), reads the service's version table on its database, runs C(alembic stamp head) there when the
    table does not hold exactly that head, and reads the table back, which must then hold exactly the head.
  - The services run side by side (a one-off container costs seconds), so the task takes as long as the slowest one.
  - Fails when a service's history has more than one head, when a command exits non-zero (with its output), or when
    the table does not hold the head afterwards. Every failing service is named; the others are stamped.
  - In check mode, runs C(alembic heads) (it only reads the service's scripts) and reads the tables, and reports
    which services would be stamped, without stamping.
requirements:
  - psycopg >= 3.1 (psycopg 3, python3-psycopg on Debian 12) for the managed host's Python
options:
  project_dir:
    description: The compose project's directory (its C(.env) gives the services their settings).
    type: path
    required: true
  project_name:
    description: The compose project's name.
    type: str
    required: true
  compose_file:
    description: The compose file the services run from after the cutover (relative to I(project_dir)).
    type: str
    required: true
  timeout:
    description: Seconds each Alembic command may take.
    type: int
    default: 300
  heads:
    description:
      - Each service's head as resolved earlier in the run (with I(resolve_only), before the services stopped), by
        service name. C(alembic heads) is not run again for them; the others are asked.
    type: dict
    default: {}
  resolve_only:
    description:
      - Only ask each service its head (C(alembic heads) reads the service's scripts, no database) and return them;
        nothing is read from or written to the databases, and the endpoints are not used.
    type: bool
    default: false
extends_documentation_fragment:
  - yemma.dbsplit.connection.ALEMBIC_SERVICES
attributes:
  check_mode:
    support: full
    description: Runs C(alembic heads) and reads the version tables, and reports which services would be stamped,
      without stamping.
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: 7-alembic | Stamp every Alembic service at its head, side by side
  dbsplit_alembic_stamp:
    services: "{{ dbsplit_services | yemma.dbsplit.alembic_services(dbsplit_endpoints.targets) }}"
    project_dir: /srv/yemma
    project_name: yemma
    compose_file: docker-compose.yml
"""

RETURN = r"""
heads:
  description: Each service's head, by service name.
  returned: always
  type: dict
  sample: {candidate: 7f2e8a4c6b31}
services:
  description: Per service, its head, what its version table held before (null when the table did not exist) and
    whether it was stamped (would be, in check mode).
  returned: unless resolve_only
  type: list
  elements: dict
  sample: [{service: candidate, head: 7f2e8a4c6b31, before: null, stamped: true}]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yemma.dbsplit.plugins.module_utils import alembic, pgconn


def main():
    module = AnsibleModule(
        argument_spec=dict(
            services=dict(type="list", elements="dict", required=True, options=dict(
                name=dict(type="str", required=True),
                alembic=dict(type="dict", required=True, options=dict(
                    args=dict(type="list", elements="str", default=[]),
                    env=dict(type="dict", default={}),
                    version_table=dict(type="str", required=True),
                )),
                endpoint=dict(type="dict", required=True, options=pgconn.CONNECTION_OPTIONS),
            )),
            project_dir=dict(type="path", required=True),
            project_name=dict(type="str", required=True),
            compose_file=dict(type="str", required=True),
            timeout=dict(type="int", default=300),
            heads=dict(type="dict", default={}),
            resolve_only=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    psycopg = pgconn.import_psycopg(module)
    params = module.params
    compose = {"project_dir": params["project_dir"], "project_name": params["project_name"], "file": params["compose_file"]}
    try:
        if params["resolve_only"]:
            results = alembic.resolve_all(compose, params["services"], params["timeout"])
            module.exit_json(changed=False, heads={r["service"]: r["head"] for r in results})
        results = alembic.stamp_all(psycopg, compose, params["services"], module.check_mode, params["timeout"],
                                    params["heads"])
    except alembic.AlembicError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=any(result["stamped"] for result in results), services=results,
                     heads={r["service"]: r["head"] for r in results})


if __name__ == "__main__":
    main()
