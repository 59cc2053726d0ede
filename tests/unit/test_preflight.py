"""The preflight's findings (plugin_utils/preflight): what the reads of a sound platform give is no
problem; each way a host, a source or a target is wrong is one problem that names the fix.
The same findings are met end to end, one mistake a run, in tests/e2e/test_bad_input.py."""

import copy
import os

import yaml

from ansible_collections.yemma.dbsplit.plugins.module_utils import machine
from ansible_collections.yemma.dbsplit.plugins.plugin_utils import preflight

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(ROOT, "group_vars", "all", "main.yml")) as _stream:
    GROUP_VARS = yaml.safe_load(_stream)
with open(os.path.join(ROOT, "roles", "preflight", "defaults", "main.yml")) as _stream:
    DEFAULTS = yaml.safe_load(_stream)

SETTINGS = dict(GROUP_VARS, **DEFAULTS, dbsplit_db_user="yemma", dbsplit_monolith_restart=False)
TARGETS = sorted({spec["endpoint"]["container"]: spec["endpoint"] for spec in GROUP_VARS["dbsplit_services"].values()}.values(),
                 key=lambda endpoint: endpoint["container"])


def stack(services):
    return {"services": {name: {"image": "local/yemma-postgres:15", "container_name": name, "mem_limit": 100 << 20}
                         for name in services}}


def host(**changes):
    found = {
        "problems": [], "compose_version": {"rc": 0, "version": "2.26.1", "error": ""},
        "files": {"docker-compose.yml": True, "docker-compose.monolith.yml": True},
        "configs": {}, "network_exists": True, "images": [], "memtotal_mb": 24000,
        "postgres_versions": {}, "free_space": {}, "docker_root": "/var/lib/docker", "dump_file_bytes": None,
    }
    found.update(changes)
    return found


def endpoints(running=True):
    return {"source": {"id": "yemma-postgres", "running": running, "exists": True},
            "targets": {f"{t['container']}/{t['database']}": {"label": t["database"], "id": t["container"], "running": False,
                                                              "exists": False, "compose_service": t["compose_service"]}
                        for t in TARGETS}}


EMPTY = machine.recorded({"sequence": 0, "steps": {}})
ENV_KEYS = ["DB_USER", "DB_PASSWORD"]


def only_host_problems(found):
    # The map against compose files that these tests do not render is the e2e suite's to check.
    return [p for p in found if "compose" not in p and "image" not in p and "connects to" not in p]


def test_a_sound_host_and_source_have_no_problem():
    reads = {"ping": {"is_available": True, "server_version": {"full": "15.18 (Debian)"}}, "freeze": {"problems": []}}
    found = preflight.findings(SETTINGS, host(), ENV_KEYS, endpoints(), EMPTY, reads)
    assert only_host_problems(found["problems"]) == [] and found["warnings"] == []
    assert preflight.summary(found) == "no problem found"


def test_each_host_mistake_is_one_problem_with_its_fix():
    bad = host(compose_version={"rc": 1, "version": "", "error": "docker: 'compose' is not a docker command"},
               files={"docker-compose.yml": False, "docker-compose.monolith.yml": True}, network_exists=False)
    found = preflight.host_findings(SETTINGS, bad, ["DB_USER"])
    assert "Docker Compose v2 >= 2.18.0 is required (docker compose version: docker: 'compose' is not a docker command): " \
           "install the docker compose plugin" in found
    assert any(p.startswith("/srv/yemma/docker-compose.yml is missing: deploy the release") for p in found)
    assert "/srv/yemma/.env has no DB_PASSWORD: add DB_PASSWORD=... (the compose files and this tool read it)" in found
    assert any(p.startswith("network yemma-network does not exist") for p in found)
    old = host(compose_version={"rc": 0, "version": "2.17.3", "error": ""})
    assert any(p.startswith("Docker Compose v2 >= 2.18.0") for p in preflight.host_findings(SETTINGS, old, ENV_KEYS))


def test_the_source_refusing_the_login_names_the_env_keys():
    reads = {"ping": {"is_available": False, "conn_err_msg": "FATAL:  password authentication\nfailed"}}
    (problem,) = only_host_problems(preflight.findings(SETTINGS, host(), ENV_KEYS, endpoints(), EMPTY, reads)["problems"])
    assert problem == ("cannot log in to yemma_db on yemma-postgres as yemma: FATAL: password authentication failed - "
                       "check DB_USER / DB_PASSWORD in .env")


def test_a_stopped_source_and_a_stopped_target_are_named_unless_a_rollback_returned_the_target():
    points = endpoints(running=False)
    auth = next(key for key in points["targets"] if key.endswith("/auth_db"))
    points["targets"][auth].update(exists=True)
    def stopped(recorded):
        return [p for p in preflight.findings(SETTINGS, host(), ENV_KEYS, points, recorded, {})["problems"]
                if p.startswith(("source ", "target "))]
    found = stopped(EMPTY)
    assert found[0].startswith("source yemma-postgres is not running: start the monolith database (docker compose -f "
                               "docker-compose.monolith.yml up -d postgres)")
    assert found[1].startswith("target auth_db: container yemma-postgres-auth exists but is stopped")
    assert len(stopped(dict(EMPTY, returned={auth: "yemma-postgres-auth"}))) == 1


def test_a_source_or_new_database_outside_the_version_matrix_is_refused_with_the_fix():
    points = endpoints()
    reads = {"ping": {"is_available": True, "server_version": {"full": "12.20 (Debian 12.20-1)"}}}
    images = host(postgres_versions={"postgres-auth": "postgres (PostgreSQL) 16.4 (Debian 16.4-1)"})
    found = [p for p in preflight.findings(SETTINGS, images, ENV_KEYS, points, EMPTY, reads)["problems"] if "PostgreSQL" in p]
    assert found[0].startswith("the source yemma_db runs PostgreSQL 12 (yemma-postgres): this tool is proven on a source "
                               "on PostgreSQL 13, 15 or 17")
    assert found[1].startswith("the new database auth_db runs PostgreSQL 16 (the image of compose service postgres-auth)")
    assert len(found) == 2
    # Split and upgrade in one move (13 -> 17) is in the matrix.
    reads["ping"]["server_version"]["full"] = "13.16 (Debian 13.16-0+deb11u1)"
    images = host(postgres_versions={"postgres-auth": "postgres (PostgreSQL) 17.2 (Debian 17.2-1)"})
    assert [p for p in preflight.findings(SETTINGS, images, ENV_KEYS, points, EMPTY, reads)["problems"] if "PostgreSQL" in p] == []


def test_room_is_counted_per_filesystem_for_the_backup_and_each_target_still_to_fill():
    plan = {"source_bytes": 900 << 20, "targets": [{"key": "yemma-postgres-auth/auth_db", "label": "auth_db", "bytes": 400 << 20,
                                                    "endpoint": {"database": "auth_db", "compose_service": "postgres-auth"}}]}
    new_stack = stack(["postgres-auth"])
    small = host(configs={"docker-compose.yml": new_stack},
                 free_space={"/var/backups": {"mount": "/", "avail": 1 << 30}, "/var/lib/docker/volumes": {"mount": "/", "avail": 1 << 30}})
    reads = {"plan": {"plan": plan, "problems": []}, "targets": {"targets": {}}}
    found = [p for p in preflight.findings(SETTINGS, small, ENV_KEYS, endpoints(), EMPTY, reads)["problems"] if "filesystem" in p]
    assert found == ["the filesystem at / has 1.0 GB free but the run writes about 1.6 GB there (the backup 990.0 MB, target "
                     "auth_db 664.0 MB): free space, or move the data (dbsplit_state_dir, the volumes in the compose file) to "
                     "a larger filesystem"]
    # A target already restored from this plan and backup keeps its data: only the backup lands.
    kept = dict(reads, targets={"targets": {"yemma-postgres-auth/auth_db": {"label": "auth_db", "action": "keep"}}})
    assert [p for p in preflight.findings(SETTINGS, small, ENV_KEYS, endpoints(), EMPTY, kept)["problems"] if "filesystem" in p] == []


def test_memory_limits_near_the_hosts_ram_warn_without_stopping():
    big = host(configs={"docker-compose.yml": stack(["a", "b"])}, memtotal_mb=240)
    found = preflight.findings(SETTINGS, big, ENV_KEYS, endpoints(), EMPTY, {})
    assert found["warnings"] == ["memory limits of the new stack add up to 200 MB, 83.3 % of the host RAM (240 MB); the runbook "
                                 "plans 4-5 GB on 8 GB"]
    assert preflight.summary(found).startswith("no problem found; warning: memory limits")


def test_online_mode_needs_a_restart_someone_scheduled():
    online = dict(SETTINGS, dbsplit_mode="online")
    reads = {"publisher": {"restart_needed": True, "changes": ["wal_level replica -> logical (restart)", "max_wal_senders 10"]}}
    (problem,) = [p for p in preflight.findings(online, host(), ENV_KEYS, endpoints(), EMPTY, reads)["problems"] if "online" in p]
    assert "needs wal_level replica -> logical (restart), which takes a restart" in problem
    assert "run again with -e dbsplit_monolith_restart=true" in problem
    scheduled = dict(online, dbsplit_monolith_restart=True)
    assert not [p for p in preflight.findings(scheduled, host(), ENV_KEYS, endpoints(), EMPTY, reads)["problems"] if "online" in p]


def test_option_a_refuses_a_scratch_server_docker_cannot_hold():
    dump = copy.deepcopy(SETTINGS)
    dump["dbsplit_source"] = {"dump_file": "/srv/yemma/yemma.dump", "database": "yemma_db", "tools_image": "local/yemma-postgres:15",
                              "scratch_container": "yemma-dbsplit-source"}
    tight = host(dump_file_bytes=100 << 20, free_space={"/var/lib/docker/volumes": {"mount": "/", "avail": 200 << 20}})
    assert preflight.dump_findings(dump, tight) == [
        "the filesystem at / has 200.0 MB free but the run writes about 500.0 MB there (Option A's scratch server 500.0 MB): "
        "free space, or move the data (dbsplit_state_dir, the volumes in the compose file) to a larger filesystem"]


def test_install_reads_the_same_host_and_refuses_a_monolith_that_holds_data():
    settings = {key: SETTINGS[key] for key in ("dbsplit_project_dir", "dbsplit_compose_project", "dbsplit_compose_file",
                                               "dbsplit_env_file", "dbsplit_env_user_key", "dbsplit_env_password_key",
                                               "dbsplit_source", "dbsplit_state_dir")}
    monolith = {"data": [{"table": "public.users"}, {"table": "public.roles"}]}
    found = preflight.install_findings(settings, host(), ["DB_USER"], endpoints(), EMPTY, monolith, [{"problems": ["x"]}], "prod")
    assert "/srv/yemma/.env has no DB_PASSWORD: add DB_PASSWORD=... (the compose file creates the databases with it)" in found
    assert any(p.startswith("the monolith yemma-postgres holds data in yemma_db (2 tables with rows, e.g. public.users, "
                            "public.roles)") and p.endswith("ansible-playbook migrate.yml -l prod") for p in found)
    assert found[-1] == "x"


def test_a_target_database_its_server_lacks_is_announced_or_refused_with_the_statement():
    absent = {"state": "absent", "label": "logs_db"}
    created = {"targets": {"yemma-postgres-logs/logs_db": dict(absent, action="create", problem=None)}}
    found = preflight.findings(SETTINGS, host(), ENV_KEYS, endpoints(), EMPTY, {"targets": created})
    assert found["warnings"] == ["target logs_db does not exist on its server: the provision phase creates it (CREATE "
                                 "DATABASE, owned by yemma)"]
    refused = {"targets": {"yemma-postgres-logs/logs_db": dict(absent, action="refuse", problem="does not exist ... CREATE DATABASE")}}
    found = preflight.findings(SETTINGS, host(), ENV_KEYS, endpoints(), EMPTY, {"targets": refused})
    assert "target logs_db does not exist ... CREATE DATABASE" in found["problems"] and found["warnings"] == []


def test_settings_the_login_may_not_make_are_named_instead_of_a_restart_this_tool_would_make():
    by_hand = ("yemma_db: its server needs max_logical_replication_workers = 7, which yemma may not set (ALTER SYSTEM "
               "needs a superuser, ...)")
    reads = {"subscriber": {"restart_needed": True, "changes": ["max_logical_replication_workers 4 -> 7 (restart)"],
                            "settings_by_hand": [by_hand]}}
    found = preflight.findings(SETTINGS, host(), ENV_KEYS, endpoints(), EMPTY, reads)["problems"]
    assert [p for p in found if "max_logical" in p] == [f"the reverse stream: {by_hand}"]
    online = dict(SETTINGS, dbsplit_mode="online", dbsplit_monolith_restart=True)
    reads = {"publisher": {"restart_needed": True, "changes": ["wal_level replica -> logical (restart)"],
                           "settings_by_hand": ["yemma_db: its server needs wal_level = logical, which yemma may not set"]}}
    found = preflight.findings(online, host(), ENV_KEYS, endpoints(), EMPTY, reads)["problems"]
    assert [p for p in found if "wal_level" in p] == ["online mode: yemma_db: its server needs wal_level = logical, which "
                                                      "yemma may not set"]
