#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_backup
short_description: Take a full, checksummed pg_dump of the source database on the host
description:
  - Runs C(pg_dump --format custom) from the source server's own image in a one-off
    container on the server's network, writing into O(directory) on the host.
  - The archive is the rollback point and the single source of every target, so every
    target holds the same instant. Its SHA-256 and size go into a manifest beside it.
  - Always takes a new backup (the run's progress decides when one is due); the archive
    appears under its final name only once complete and checksummed.
  - In check mode, reports the database's size.
requirements:
  - psycopg >= 3.1 (psycopg 3, python3-psycopg on Debian 12) for the managed host's Python
options:
  directory:
    description: Directory on the host for the archive and its manifest (created 0700).
    type: path
    required: true
  compress_level:
    description: pg_dump compression level, 0 (none, the fastest) to 9; 1 costs CPU and shrinks text about 3x.
    type: int
    default: 0
  keep_files:
    description:
      - Files of the platform (its compose files and C(.env)) copied into I(keep_directory) as they are now, for
        rollback.yml (0600, directory 0700). A copy made by an earlier run is never overwritten, so the originals stay.
    type: list
    elements: path
  keep_directory:
    description: Where I(keep_files) are kept. Required with I(keep_files).
    type: path
extends_documentation_fragment:
  - yemma.dbsplit.connection.SOURCE_RUNTIME
attributes:
  check_mode:
    support: full
    description: Reports the database's size; no backup is taken.
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: 5-backup | Take the full backup every target is restored from
  dbsplit_backup:
    source: "{{ dbsplit_source_runtime }}"
    directory: /var/backups/yemma-dbsplit
"""

RETURN = r"""
manifest:
  description: Database, archive path, sha256, id (first 16 hex digits), bytes, seconds, server_version, taken_at.
  returned: when a backup exists or was taken
  type: dict
  sample:
    database: yemma_db
    archive: /var/backups/yemma-dbsplit/yemma_db.dump
    sha256: af2bdbe1aa9b6ec1e2ade1d694f41fc71a831d0268e9891562113d8a62add1bf
    id: af2bdbe1aa9b6ec1
    bytes: 4187321
    seconds: 3.41
    server_version: 150018
    taken_at: "2026-11-25T10:17:02Z"
database_bytes:
  description: Size of the source database (pg_database_size).
  returned: always
  type: int
  sample: 11320679
kept:
  description: The I(keep_files) copied now (those an earlier run kept are left as they are).
  returned: when a backup was taken
  type: list
  elements: str
  sample: [/srv/yemma/docker-compose.monolith.yml, /srv/yemma/.env]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yemma.dbsplit.plugins.module_utils import backup, pgconn, pgtools


def main():
    module = AnsibleModule(
        argument_spec=dict(
            source=dict(type="dict", required=True, options=pgconn.RUNTIME_OPTIONS),
            directory=dict(type="path", required=True),
            compress_level=dict(type="int", default=0),
            keep_files=dict(type="list", elements="path"),
            keep_directory=dict(type="path"),
        ),
        required_by={"keep_files": "keep_directory"},
        supports_check_mode=True,
    )
    psycopg = pgconn.import_psycopg(module)
    source = module.params["source"]
    try:
        with pgconn.connect(psycopg, source) as conn:
            size, version = conn.execute(
                "SELECT pg_database_size(current_database()), current_setting('server_version_num')::int"
            ).fetchone()
        if module.check_mode:
            module.exit_json(changed=True, manifest=None, database_bytes=size)
        pgtools.check_client_version(source["tools_image"], "pg_dump", version)
        manifest = backup.take(pgconn.tools_runtime(source), source["login_password"], source["db"],
                               module.params["directory"], module.params["compress_level"], version)
        kept = backup.keep_originals(module.params["keep_files"] or [], module.params["keep_directory"])
    except (psycopg.Error, pgtools.ToolError, OSError) as exc:
        module.fail_json(msg=f"backup of {source['db']} failed: {exc}")
    module.exit_json(changed=True, manifest=manifest, database_bytes=size, kept=kept)


if __name__ == "__main__":
    main()
