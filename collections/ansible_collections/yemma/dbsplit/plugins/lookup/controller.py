"""Lookup ``yemma.dbsplit.controller``: who is running this playbook, as the run lock records it.

Lookups run in Ansible's worker processes, whose parent is the ansible-playbook process:
its pid and start time (clock ticks since boot, from /proc) tell later whether that very
process is still alive, even if its pid has been reused since.
"""

import os
import socket

from ansible.plugins.lookup import LookupBase

DOCUMENTATION = r"""
name: controller
short_description: The controller host, and the pid and start time of this ansible-playbook
description:
  - Returns one dict, C(host), C(pid) and C(pid_started), which the run lock records as its owner.
"""

RETURN = r"""
_raw:
  description: "{host, pid, pid_started}"
  type: list
  elements: dict
"""


def process_start(pid):
    """Start time of ``pid`` in clock ticks since boot, or None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as stream:
            return int(stream.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        pid = os.getppid()
        return [{"host": socket.gethostname(), "pid": pid, "pid_started": process_start(pid)}]
