#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_dump_source
short_description: Serve a pg_dump archive on the host as a read-only source (runbook Option A)
description:
  - With O(state=present), restores the whole archive into a throwaway PostgreSQL server
    (a container of O(tools_image) on O(network), no published port) so that planning
    and verification can read a live catalog. The targets are then verified against
    exactly what the archive holds.
  - A server already loaded from the same archive (same SHA-256, loaded marker set only
    after pg_restore succeeded) is reused; anything else is replaced.
  - With O(state=absent), removes the server and its volume.
  - Check mode reports what would change. The migrate playbook runs this module outside
    check mode on purpose, because a check run needs the catalog too; it removes the server at its end.
options:
  dump_file:
    description: Path on the host of a C(pg_dump --format custom) archive of the source database.
    type: path
    required: true
  database:
    description: Name of the database to restore the archive into (the source's name).
    type: str
    required: true
  container:
    description: Name of the scratch server's container.
    type: str
    required: true
  tools_image:
    description: PostgreSQL image of the scratch server and of pg_restore (major version at least the archive's).
    type: str
    required: true
  network:
    description: Docker network the scratch server joins (the tools containers reach it there by name).
    type: str
    required: true
  login_user:
    description: Role created in the scratch server (the platform's DB_USER).
    type: str
    required: true
  login_password:
    description: Its password (the platform's DB_PASSWORD); passed through the environment only.
    type: str
    required: true
  jobs:
    description: Parallel pg_restore jobs.
    type: int
    default: 2
  tool_name:
    description: Name of this tool (C(dbsplit_tool_name)); labels the scratch server and marks its database loaded.
    type: str
    required: true
  state:
    description:
      - C(present) to serve the archive, C(absent) to remove the server.
      - Only a container with the label O(tool_name) is ever removed or replaced. C(present)
        fails on a container of that name without it; C(absent) leaves it alone, with a warning.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    support: full
    description: Reports what would change; no server is started, loaded or removed.
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: 1-preflight | Serve yemma_full_backup.dump as the source
  dbsplit_dump_source:
    dump_file: /root/yemma_full_backup.dump
    database: yemma_db
    container: yemma-dbsplit-source
    tools_image: postgres:15
    network: yemma-network
    login_user: "{{ dbsplit_db_user }}"
    login_password: "{{ dbsplit_db_password }}"
    tool_name: yemma-dbsplit
"""

RETURN = r"""
sha256:
  description: SHA-256 of the archive.
  returned: when O(state=present)
  type: str
  sample: af2bdbe1aa9b6ec1e2ade1d694f41fc71a831d0268e9891562113d8a62add1bf
bytes:
  description: Size of the archive.
  returned: when O(state=present)
  type: int
  sample: 4187321
seconds:
  description: Time to start the server and restore the archive; 0 when reused.
  returned: when O(state=present)
  type: float
  sample: 12.84
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yemma.dbsplit.plugins.module_utils import backup, dumpsource, pgtools


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dump_file=dict(type="path", required=True),
            database=dict(type="str", required=True),
            container=dict(type="str", required=True),
            tools_image=dict(type="str", required=True),
            network=dict(type="str", required=True),
            login_user=dict(type="str", required=True),
            login_password=dict(type="str", required=True, no_log=True),
            jobs=dict(type="int", default=2),
            tool_name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        if p["state"] == "absent":
            try:
                info = dumpsource.ours(p["tool_name"], p["container"])
            except pgtools.ToolError as exc:
                # Never removed: someone else's container (the preflight named the fix already).
                module.warn(str(exc))
                module.exit_json(changed=False)
            if info is not None and not module.check_mode:
                dumpsource.remove(p["tool_name"], p["container"])
            module.exit_json(changed=info is not None)
        if not os.path.isfile(p["dump_file"]):
            module.fail_json(msg=f"dump file {p['dump_file']} not found on the host: copy the archive there "
                                 "(pg_dump --format custom) or fix dbsplit_source.dump_file")
        sha256 = backup.sha256_file(p["dump_file"])
        size = os.path.getsize(p["dump_file"])
        if dumpsource.is_loaded(p["tool_name"], p["container"], sha256, p["login_user"], p["database"]):
            module.exit_json(changed=False, sha256=sha256, bytes=size, seconds=0)
        if module.check_mode:
            module.exit_json(changed=True, sha256=sha256, bytes=size, seconds=0)
        seconds = dumpsource.load(p["tool_name"], p["container"], p["tools_image"], p["network"], p["login_user"],
                                  p["login_password"], p["database"], p["dump_file"], sha256, p["jobs"])
    except (pgtools.ToolError, OSError) as exc:
        module.fail_json(msg=f"cannot serve {p['dump_file']} as the source: {exc}")
    module.exit_json(changed=True, sha256=sha256, bytes=size, seconds=seconds)


if __name__ == "__main__":
    main()
