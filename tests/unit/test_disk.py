import os

from ansible_collections.yemma.dbsplit.plugins.module_utils import host
from ansible_collections.yemma.dbsplit.plugins.plugin_utils import disk

STACK = {
    "services": {
        "postgres-auth": {"volumes": [{"type": "volume", "source": "auth_data", "target": host.PGDATA}]},
        "postgres-logs": {"volumes": [{"type": "bind", "source": "/mnt/fast/logs", "target": host.PGDATA}]},
        "postgres-docs": {"volumes": [{"type": "volume", "source": "docs_data", "target": host.PGDATA}]},
        "postgres-bare": {},
    },
    "volumes": {"auth_data": {"name": "yemma_auth_data"},
                "docs_data": {"driver_opts": {"type": "none", "o": "bind", "device": "/mnt/docs"}}},
}


def test_each_kind_of_volume_lands_where_docker_puts_it():
    assert host.data_path(STACK, "postgres-auth", "/var/lib/docker") == "/var/lib/docker/volumes"
    assert host.data_path(STACK, "postgres-logs", "/var/lib/docker") == "/mnt/fast/logs"
    assert host.data_path(STACK, "postgres-docs", "/var/lib/docker") == "/mnt/docs"
    assert host.data_path(STACK, "postgres-bare", "/var/lib/docker") == "/var/lib/docker/volumes"


PLAN = {"targets": [{"key": "yemma-postgres-auth/auth_db", "label": "auth_db", "bytes": 100 << 20,
                      "endpoint": {"database": "auth_db", "compose_service": "postgres-auth"}},
                     {"key": "yemma-postgres-logs/logs_db", "label": "logs_db", "bytes": 10 << 20,
                      "endpoint": {"database": "logs_db", "compose_service": "postgres-logs"}}]}


def test_needs_count_the_backup_and_the_targets_still_to_fill():
    needs = disk.needs(PLAN, ["yemma-postgres-auth/auth_db"], STACK, "/var/lib/docker", "/var/backups", 50 << 20, 1.5, 64 << 20)
    assert needs == [{"what": "the backup", "path": "/var/backups", "bytes": 50 << 20},
                     {"what": "target auth_db", "path": "/var/lib/docker/volumes", "bytes": (150 + 64) << 20}]


def test_needs_on_one_filesystem_add_up_and_the_refusal_gives_the_figures():
    needs = [{"what": "the backup", "path": "/var/backups", "bytes": 60 << 20},
             {"what": "target auth_db", "path": "/var/lib/docker/volumes", "bytes": 60 << 20}]
    one_disk = {"/var/backups": {"mount": "/", "avail": 100 << 20}, "/var/lib/docker/volumes": {"mount": "/", "avail": 100 << 20}}
    assert disk.problems(needs, one_disk) == [
        "the filesystem at / has 100.0 MB free but the run writes about 120.0 MB there (the backup 60.0 MB, target auth_db "
        "60.0 MB): free space, or move the data (dbsplit_state_dir, the volumes in the compose file) to a larger filesystem"]
    two_disks = dict(one_disk, **{"/var/lib/docker/volumes": {"mount": "/var/lib/docker", "avail": 100 << 20}})
    assert disk.problems(needs, two_disks) == []


def test_the_host_measures_each_path_on_its_filesystem_and_a_path_not_made_yet_on_its_parents(tmp_path):
    made = tmp_path / "state"
    made.mkdir()
    free = host.free_space([str(made), str(tmp_path / "not" / "yet")])
    now = os.statvfs(made)
    # Within 64 MiB: whatever else runs on this machine writes to the same filesystem meanwhile.
    assert abs(free[str(made)]["avail"] - now.f_bavail * now.f_frsize) < 64 << 20
    assert free[str(made)]["mount"] == host.mount_point(str(tmp_path))
    assert free[str(tmp_path / "not" / "yet")] == free[str(made)]
    assert disk.problems([{"what": "target logs_db", "path": "/mnt/gone", "bytes": 1}], free) == [
        "cannot measure the free space at /mnt/gone for target logs_db: not measured"]
