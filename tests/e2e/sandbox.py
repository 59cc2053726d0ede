"""Helpers for end-to-end tests: the real sandbox, real Docker, real SSH, real Ansible."""

import json
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROJECT_DIR = os.environ.get("SANDBOX_PROJECT_DIR", "/srv/yemma")

MAP = {
    "auth": ["users", "roles", "user_roles", "refresh_tokens", "admin_invitation_tokens"],
    "candidate": ["profiles", "experiences", "educations", "certifications", "skills", "job_preferences"],
    "company": ["companies", "team_members", "invitations"],
    "payment": ["plans", "subscriptions", "payments", "invoices", "quotas"],
    "document": ["documents"],
    "notification": ["notifications"],
    "audit": ["access_logs"],
}
BACKEND = ["auth", "candidate", "company", "payment", "document", "notification", "notification-worker", "audit"]
INFRA = ["redis", "minio", "elasticsearch", "kibana", "nginx", "frontend"]


def run(argv, check=True, **kwargs):
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def sandbox(*args):
    return run(["bash", "sandbox/sandbox.sh", *args])


def psql(container, database, sql):
    """Rows of a query run inside a database container (local socket, no password)."""
    out = run(["docker", "exec", container, "psql", "-X", "-v", "ON_ERROR_STOP=1", "-U", "postgres",
               "-d", database, "-At", "-F", "\t", "-c", sql]).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def health(container):
    out = run(["docker", "inspect", container]).stdout
    state = json.loads(out)[0]["State"]
    return state.get("Health", {}).get("Status") if state["Running"] else "stopped"


def container_ip(container):
    out = run(["docker", "inspect", container]).stdout
    networks = json.loads(out)[0]["NetworkSettings"]["Networks"]
    return networks["yemma-network"]["IPAddress"]


def ansible_playbook(*args, env=None):
    venv = os.path.join(ROOT, ".venv", "bin")
    full_env = dict(os.environ, PATH=f"{venv}:{os.environ['PATH']}", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
                    ANSIBLE_FORCE_COLOR="0", **(env or {}))
    return subprocess.run([os.path.join(venv, "ansible-playbook"), *args], cwd=ROOT, capture_output=True,
                          text=True, env=full_env)
