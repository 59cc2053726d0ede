#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dbsplit_progress
short_description: Read how far a module running in the background (async) has gone
description:
  - Reads the progress file a background module rewrites as it goes (M(dbsplit_verify)'s O(progress_file)) and returns
    its C(line) (done of total, time left), which the tool's output shows at each poll of an C(until) loop.
  - Says whether the background job has finished, from its async results file (RV(finished)); its result is then read
    with M(ansible.builtin.async_status).
options:
  progress_file:
    description: The progress file (JSON with a C(line)); absent until the job writes it.
    type: path
    required: true
  results_file:
    description: The async job's results file (C(results_file) of the registered async task).
    type: path
    required: true
attributes:
  check_mode:
    support: full
    description: Only reads.
author: yemma-dbsplit team
"""

EXAMPLES = r"""
- name: Verify | Compare every target (progress below)
  dbsplit_verify:
    source: "{{ dbsplit_endpoints.source.connection }}"
    targets: "{{ dbsplit_recorded.plan.targets | yemma.dbsplit.with_endpoints(dbsplit_endpoints.targets, 'connection') }}"
    progress_file: /var/lib/yemma-dbsplit/verify.progress
  async: 7200
  poll: 0
  register: dbsplit_audit_job

- name: Verify | Tables compared of the total, time left
  dbsplit_progress:
    progress_file: /var/lib/yemma-dbsplit/verify.progress
    results_file: "{{ dbsplit_audit_job.results_file }}"
  register: dbsplit_audit_progress
  until: dbsplit_audit_progress.finished
  retries: 3600
  delay: 2
"""

RETURN = r"""
line:
  description: The job's last progress line ('' before its first).
  returned: always
  type: str
  sample: 12 of 22 tables compared (310.2 of 1020.4 MB), 41 s, about 94 s left
progress:
  description: The progress file's figures, as the job wrote them ({} before its first).
  returned: always
  type: dict
  sample: {tables: 22, tables_done: 12, bytes: 1069977190, bytes_done: 325268684}
finished:
  description: Whether the job has ended (succeeded or failed).
  returned: always
  type: bool
  sample: false
"""

import json

from ansible.module_utils.basic import AnsibleModule


def read_json(path):
    """The file's JSON, or {} while it is absent or being written."""
    try:
        with open(path) as source:
            return json.load(source)
    except (OSError, ValueError):
        return {}


def main():
    module = AnsibleModule(
        argument_spec=dict(progress_file=dict(type="path", required=True), results_file=dict(type="path", required=True)),
        supports_check_mode=True,
    )
    progress = read_json(module.params["progress_file"])
    job = read_json(module.params["results_file"])
    # The async wrapper writes {"started": 1, "finished": 0} first, then the module's own result.
    finished = bool(job) and job.get("finished", 1) != 0
    module.exit_json(changed=False, line=progress.get("line", ""), progress=progress, finished=finished)


if __name__ == "__main__":
    main()
