"""The monolith's database rebuilt from the migration backup, when a rollback finds its
volume gone (the runbook's "restore the postgres_data volume from a backup").

The whole archive is restored, but for the rows of the tables that live in the new
databases when the services wrote to them through a reverse stream: those tables are
restored empty and filled from the new databases by the stream's first copy, so the rows the
services wrote since the cutover come back too. The database's comment carries this tool's
marker (plan ``monolith``, the backup's id, ``restoring`` then ``restored``), so a run killed
mid-restore starts again from empty and a finished one is not redone.
"""

import time

from ansible_collections.yemma.dbsplit.plugins.module_utils import backup, toc
from ansible_collections.yemma.dbsplit.plugins.module_utils.restore import restore_listed

PLAN = "monolith"


def verdict(info, backup_id):
    """restore, rebuild (half restored), keep (restored from this backup) or refuse (with why)."""
    if info["state"] == "empty":
        return "restore", None
    if info["plan"] == PLAN and info["backup"] == backup_id:
        return ("keep", None) if info["state"] == "restored" else ("rebuild", None)
    return "refuse", (f"holds {info['objects']} objects that this tool did not restore from backup {backup_id}: "
                      "a rebuild never overwrites a database; its volume is not the lost one. Move it aside "
                      "(docker compose rm -sv <service>; docker volume rm <volume>, after saving it) or restore it yourself")


def restore(conn, runtime, password, manifest, empty_tables, jobs, work_dir, rebuild):
    """Restore the archive into the connected (empty) database, the tables whose oids are in
    ``empty_tables`` without their rows; return figures."""
    backup.check_archive(manifest)
    _database, entries = toc.read_toc(manifest["archive"])
    listing, count = toc.all_but_data_of(entries, set(empty_tables))
    started = time.monotonic()
    restore_listed(conn, runtime, password, manifest, listing, "monolith.list", PLAN, rebuild, jobs, work_dir,
                   f"{runtime['tool']}-rebuild-monolith")
    return {"entries": count, "tables_left_empty": len(empty_tables), "seconds": round(time.monotonic() - started, 2)}
