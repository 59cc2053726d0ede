#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_host_info
short_description: Read what the migration needs of the host in one task
description:
  - Reads, side by side, Docker Compose's version, Docker's data root, whether each compose file
    is there and how C(docker compose config) renders it, whether the external network exists,
    the names of the images on the host, the host's RAM, and the PostgreSQL version of the new
    databases' images (C(postgres --version) in a throwaway container without network).
  - One task instead of seven (each costs a round trip over SSH, on every run); the preflight
    records what is missing as problems, each with its fix.
  - Never fails on what it finds; a Docker that cannot be asked or a compose file that cannot be
    rendered is returned in I(problems), with compose's own message.
  - Only reads, so it runs in check mode too. The rendered configurations hold the .env's
    values, the database password among them; use C(no_log) on the task.
options:
  project_dir:
    description: The platform's directory (compose files and .env).
    type: path
    required: true
  project_name:
    description: The compose project name.
    type: str
    required: true
  compose_files:
    description: The compose files to look for and render, relative to I(project_dir).
    type: list
    elements: str
    required: true
  network:
    description: The external Docker network the compose files join.
    type: str
    required: true
  postgres_services:
    description:
      - Services of the first compose file that run a PostgreSQL server (the new databases).
      - The version of each one's image is read, so that a database that does not run yet is judged before it starts.
    type: list
    elements: str
    default: []
  space_paths:
    description:
      - Paths whose filesystem's free space is measured (the state directory's parent), beside Docker's volumes and
        where each of I(postgres_services) keeps its data. A path not made yet is measured on its nearest parent.
    type: list
    elements: path
    default: []
  dump_file:
    description: Option A's archive, whose size is read (RV(dump_file_bytes) is null when it is not there).
    type: path
attributes:
  check_mode:
    support: full
    description: Only reads, so a check run reads the host as any run does.
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: 1-preflight | Read the host
  dbsplit_host_info:
    project_dir: /srv/yemma
    project_name: yemma
    compose_files: [docker-compose.yml, docker-compose.monolith.yml]
    network: yemma-network
  register: dbsplit_host
  no_log: true  # the rendered configuration holds the database password
"""

RETURN = r"""
compose_version:
  description: What C(docker compose version --short) answered.
  returned: always
  type: dict
  contains:
    rc: {description: Its exit code (not 0 when the compose plugin is missing)., type: int}
    version: {description: The version printed., type: str}
    error: {description: Its message when it failed (what it printed otherwise)., type: str}
  sample: {rc: 0, version: "2.29.7", error: "2.29.7"}
docker_root:
  description: Docker's data root (new volumes land there).
  returned: always
  type: str
  sample: /var/lib/docker
files:
  description: Per compose file, whether it is there.
  returned: always
  type: dict
  sample: {docker-compose.yml: true, docker-compose.monolith.yml: true}
configs:
  description: Per compose file that is there, the configuration C(docker compose config --format json) renders.
  returned: always
  type: dict
  sample:
    docker-compose.yml:
      name: yemma
      services:
        postgres-auth: {image: "postgres:15", networks: {yemma-network: null}}
      networks:
        yemma-network: {name: yemma-network, external: true}
network_exists:
  description: Whether the external network exists.
  returned: always
  type: bool
  sample: true
images:
  description: The names the host's images answer to (repository:tag and repository@digest).
  returned: always
  type: list
  elements: str
  sample: ["postgres:15", "postgres@sha256:af2bdbe1aa9b6ec1e2ade1d694f41fc71a831d0268e9891562113d8a62add1bf", "yemma/auth-service:1.4.2"]
memtotal_mb:
  description: The host's RAM in MB, as ansible_memtotal_mb.
  returned: always
  type: int
  sample: 3915
postgres_versions:
  description: Per service of I(postgres_services) whose image could be read, what C(postgres --version) printed.
  returned: always
  type: dict
  sample: {postgres-auth: "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"}
free_space:
  description: Per measured path, C({mount, avail}) (free bytes for an unprivileged user) or C({error}).
  returned: always
  type: dict
  sample: {/var/backups: {mount: /, avail: 52613349376}}
dump_file_bytes:
  description: The size of I(dump_file) in bytes; null when it is not given or not there.
  returned: always
  type: int
  sample: 1048576
problems:
  description: What could not be read (Docker not answering, a compose file compose cannot render), each with its fix.
  returned: always
  type: list
  elements: str
  sample:
    - "docker info failed (Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon
      running?): Docker must be installed and running on the host"
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yemma.dbsplit.plugins.module_utils import host


def main():
    module = AnsibleModule(
        argument_spec=dict(
            project_dir=dict(type="path", required=True),
            project_name=dict(type="str", required=True),
            compose_files=dict(type="list", elements="str", required=True),
            network=dict(type="str", required=True),
            postgres_services=dict(type="list", elements="str", default=[]),
            space_paths=dict(type="list", elements="path", default=[]),
            dump_file=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    found = host.probe(params["project_dir"], params["project_name"], params["compose_files"], params["network"],
                       params["postgres_services"], params["space_paths"], params["dump_file"])
    module.exit_json(changed=False, **found)


if __name__ == "__main__":
    main()
