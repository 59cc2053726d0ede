"""Filter ``yemma.dbsplit.lock_holder_alive``: is the run that holds the lock still running?

Evaluated on the controller, where the lock's owner process ran: the evidence an operator
needs before breaking a lock.
"""

import socket

from ansible_collections.yemma.dbsplit.plugins.lookup.controller import process_start


def lock_holder_alive(holder):
    """{"alive": true|false|null, "evidence": "..."} for a lock holder's recorded owner."""
    owner = (holder or {}).get("owner", {})
    host, pid = owner.get("host"), owner.get("pid")
    if host != socket.gethostname():
        return {"alive": None, "evidence": f"it was taken from controller {host}, so this controller "
                                           f"({socket.gethostname()}) cannot see whether its process {pid} still runs"}
    started = process_start(pid)
    if started is None:
        return {"alive": False, "evidence": f"its ansible-playbook process (pid {pid} on {host}) no longer exists"}
    if started != owner.get("pid_started"):
        return {"alive": False, "evidence": f"its ansible-playbook process (pid {pid} on {host}) is gone: that pid "
                                            "now belongs to a process started later"}
    return {"alive": True, "evidence": f"its ansible-playbook process (pid {pid} on {host}) is still running"}


class FilterModule:
    def filters(self):
        return {"lock_holder_alive": lock_holder_alive}
