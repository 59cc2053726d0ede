"""The sandbox replica of the yemma platform, brought up from nothing (issue: foundation).

Real Docker containers built from Debian packages, the monolith seeded by the
deterministic generator, and the host reached over real SSH by Ansible.
"""

import json
import urllib.request

import pytest

from sandbox import BACKEND, INFRA, MAP, ansible_playbook, container_ip, health, psql, run, sandbox


@pytest.fixture(scope="module")
def old_platform():
    sandbox("down")
    sandbox("up", "--size-mb", "10")
    yield
    sandbox("down")


def test_every_container_of_the_old_stack_is_healthy(old_platform):
    for name in ["yemma-postgres"] + [f"yemma-{s}" for s in BACKEND + INFRA]:
        assert health(name) == "healthy", name


def test_monolith_holds_the_generated_data(old_platform):
    tables = {row[0] for row in psql("yemma-postgres", "yemma_db",
                                     "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    mapped = {t for ts in MAP.values() for t in ts}
    assert mapped | {"alembic_version"} <= tables
    for table in sorted(mapped):
        (count,), = psql("yemma-postgres", "yemma_db", f"SELECT count(*) FROM {table}")
        assert int(count) > 0, f"{table} is empty"
    (size,), = psql("yemma-postgres", "yemma_db", "SELECT pg_database_size('yemma_db') / 1048576")
    assert 5 <= int(size) <= 30
    # The awkward data the migration must carry intact.
    (awkward,), = psql("yemma-postgres", "yemma_db",
                       "SELECT count(*) FROM notifications WHERE body LIKE E'%\\n\\\\.\\n%' OR body LIKE E'%\\t%'")
    assert int(awkward) > 0


def test_old_services_read_and_write_the_monolith(old_platform):
    for service in ["auth", "candidate", "company", "payment", "document", "notification", "audit"]:
        base = f"http://{container_ip('yemma-' + service)}:8000"
        with urllib.request.urlopen(base + "/health", timeout=10) as response:
            assert response.status == 200
        request = urllib.request.Request(base + "/items", data=b"{}", method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201, service
        with urllib.request.urlopen(base + "/items", timeout=10) as response:
            assert json.load(response)


def test_ansible_reaches_the_sandbox_over_ssh_and_plans_it(old_platform):
    """A check-mode run of the first two phases, over SSH: reads only."""
    result = ansible_playbook("migrate.yml", "-l", "sandbox", "--check", "--tags", "preflight,plan")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "ansible_host" not in result.stdout  # no connection variables dumped
    assert "needs enum types: public.userstatus" in result.stdout
    assert "drops foreign key profiles_user_id_fkey on public.profiles -> public.users" in result.stdout
    password = run(["sed", "-n", "s/^DB_PASSWORD=//p", "/srv/yemma/.env"]).stdout.strip()
    assert password and password not in result.stdout + result.stderr
