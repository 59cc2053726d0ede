#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_plan
short_description: Plan the split of one PostgreSQL database into one database per service
description:
  - Reads the source database's catalog and, for every target database of the service map,
    lists its tables (partitions included) and every object they need that C(pg_dump -t)
    leaves out, such as enum and composite types, domains, functions used by defaults,
    checks and triggers, extensions, sequences used by defaults, and schemas.
  - Foreign keys that would cross into another database are left out of the plan and listed.
  - Checks the map against the source, reporting mapped tables that do not exist (with the
    nearest name), tables mapped twice, C(alembic_version*) tables mapped, and source tables
    that no service claims and that are not listed as left behind.
  - Counts the source's large objects and their size. They belong to the database, not to a
    table, so O(large_objects_service) names the service whose database receives them; a
    source that has some while it is unset is a problem.
  - Gives every other object of the source's own schemas a fate (views, materialized views,
    functions, procedures, aggregates, types, domains, sequences no column owns, schemas,
    extensions, publications, casts, event triggers, languages, foreign servers) and
    returns them in RV(plan.objects). An object goes to the target whose tables it reads
    (from C(pg_depend)), or where the map places it (a service's C(objects)), or is left
    behind (O(objects_left_behind), or it reads only tables left behind). An object that
    reads no table, or tables of two databases, and that the map does not place or leave
    behind, is a problem naming the map line that would settle it.
  - Names every object by its PostgreSQL identity (C(pg_identify_object)), quoted where
    needed; a table in the map may be written as its identity or raw (C(public.Person)).
  - Only reads the catalog, so it runs in check mode too.
requirements:
  - psycopg >= 3.1 (psycopg 3, python3-psycopg on Debian 12) for the managed host's Python
options:
  services:
    description:
      - Service name to C(tables) (names, optionally schema-qualified) and C(endpoint), a
        dict with C(database) and either C(container) or C(host) (and C(port)).
      - A service's optional C(objects) lists other objects to place in its database, each
        as its type and identity (C(function public.slugify(pg_catalog.text))), as the plan
        names them.
      - Services whose endpoints name the same database are restored together.
    type: dict
    required: true
  left_behind:
    description: Source tables deliberately not migrated (they stay in the monolith only).
    type: list
    elements: str
    default: []
  objects_left_behind:
    description: Objects (type and identity, as the plan names them) deliberately not migrated.
    type: list
    elements: str
    default: []
  large_objects_service:
    description:
      - The service (a key of O(services)) whose target database receives all of the source's
        large objects (C(pg_largeobject)), for instance the one whose tables hold their oids.
      - Unset, the source must hold no large objects. Other targets receive none.
    type: str
  reverse_stream:
    description:
      - The targets will publish their tables back to the monolith (the reverse stream), so a
        table without a primary key is a problem unless listed in O(full_identity).
    type: bool
    default: true
  full_identity:
    description: Tables without a primary key that the reverse stream publishes with C(REPLICA IDENTITY FULL).
    type: list
    elements: str
    default: []
  fail_on_problems:
    description: Fail when the map has problems; when false, return them in RV(problems).
    type: bool
    default: true
extends_documentation_fragment:
  - yemma.dbsplit.connection.SOURCE
attributes:
  check_mode:
    support: full
    description: Only reads the catalog, so a check run plans as any run does.
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: 2-plan | Plan what each service database receives
  dbsplit_plan:
    source:
      login_host: 172.18.0.2
      login_user: postgres
      login_password: "{{ dbsplit_db_password }}"
      db: yemma_db
    services:
      auth:
        tables: [users, roles]
        endpoint: {container: yemma-postgres-auth, database: auth_db}
    left_behind: [legacy_exports]
    objects_left_behind: ["view public.monthly_signups"]
    large_objects_service: auth
  register: plan
"""

RETURN = r"""
plan:
  description: The plan, per target database, with a C(hash) that identifies it.
  returned: always
  type: dict
  sample:
    hash: 8e8482920e5c60a1
    source_database: yemma_db
    source_server_version: 150018
    source_bytes: 11320679
    source_large_objects: {count: 0, bytes: 0, note: null, service: null}
    targets:
      - key: yemma-postgres-auth/auth_db
        label: auth_db
        database: auth_db
        endpoint: {container: yemma-postgres-auth, database: auth_db}
        services: [auth]
        tables:
          - {name: public.users, service: auth, kind: r, partitions: []}
        bytes: 385024
        needs: {enum types: [public.userstatus], extensions: [citext], sequences: [public.users_id_seq]}
        dropped_foreign_keys: []
        large_objects: null
        objects:
          pg_attrdef:16505: {class: pg_attrdef, class_oid: 2604, oid: 16505, type: default value,
                             identity: for public.users.id, kind: null,
                             address: [default value, [public, users, id], []], top_level: false}
    left_behind: [public.alembic_version]
    objects:
      - {object: extension citext, targets: [auth_db],
         fate: "needed there (by a column, default, check, trigger or another object)"}
  contains:
    hash: {description: Hash of what the plan moves (by name)., type: str}
    source_database: {description: The source database's name., type: str}
    source_server_version: {description: "The source server's version number (C(server_version_num)).", type: int}
    source_bytes: {description: The source database's size., type: int}
    targets:
      description: >-
        One entry per target database with tables, needs, dropped_foreign_keys and large_objects
        (C(count), C(bytes), C(note) for the target that receives them, null for the others).
      type: list
    source_large_objects: {description: "The source's large objects (C(count), C(bytes), C(note)) and the C(service) that receives them.", type: dict}
    left_behind: {description: Source tables no service receives (alembic_version* included)., type: list}
    objects:
      description: >-
        Every object that is not a table, with its C(targets) (databases) and C(fate) (why it goes
        there, or why it is left behind).
      type: list
problems:
  description: What is wrong with the map, each with its fix. Empty when the plan can run.
  returned: always
  type: list
  elements: str
  sample:
    - "the source holds 3 large objects (0.1 MB) that belong to no service: set dbsplit_large_objects_service to the
      service that owns them (e.g. the one whose tables hold their oids)"
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yemma.dbsplit.plugins.module_utils import catalog, pgconn, plan, reverse


def main():
    module = AnsibleModule(
        argument_spec=dict(
            source=dict(type="dict", required=True, options=pgconn.CONNECTION_OPTIONS),
            services=dict(type="dict", required=True),
            left_behind=dict(type="list", elements="str", default=[]),
            objects_left_behind=dict(type="list", elements="str", default=[]),
            large_objects_service=dict(type="str"),
            reverse_stream=dict(type="bool", default=True),
            full_identity=dict(type="list", elements="str", default=[]),
            fail_on_problems=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    psycopg = pgconn.import_psycopg(module)
    try:
        with pgconn.connect(psycopg, module.params["source"]) as conn:
            snapshot = catalog.read_catalog(conn)
            result = plan.build_plan(snapshot, module.params["services"], module.params["left_behind"],
                                     module.params["large_objects_service"], module.params["objects_left_behind"])
            if module.params["reverse_stream"]:
                tables = [table["name"] for target in result["targets"] for table in target["tables"]]
                result["problems"] += reverse.identity_problems(conn, tables, module.params["full_identity"])
    except plan.MapError as exc:
        module.fail_json(msg=f"dbsplit_services is malformed: {exc}")
    except psycopg.Error as exc:
        module.fail_json(msg=f"cannot read the catalog of {module.params['source']['db']}: {exc}")
    problems = result.pop("problems")
    if problems and module.params["fail_on_problems"]:
        module.fail_json(msg="the map cannot be migrated:\n- " + "\n- ".join(problems),
                         plan=result, problems=problems)
    module.exit_json(changed=False, plan=result, problems=problems)


if __name__ == "__main__":
    main()
