"""Helpers for end-to-end tests: the real sandbox, real Docker, real SSH, real Ansible."""

import hashlib
import json
import os
import random
import subprocess
import threading
import time
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROJECT_DIR = os.environ.get("SANDBOX_PROJECT_DIR", "/srv/yemma")

# The map the tool ships (tests/unit/test_plan.py checks it against the runbook).
with open(os.path.join(ROOT, "group_vars", "all", "main.yml")) as _stream:
    GROUP_VARS = yaml.safe_load(_stream)
SERVICES = GROUP_VARS["dbsplit_services"]
MAP = {name: spec["tables"] for name, spec in SERVICES.items()}
BACKEND = GROUP_VARS["dbsplit_backend_services"]
INFRA = ["redis", "minio", "elasticsearch", "kibana", "nginx", "frontend"]


def run(argv, check=True, timeout=900, **kwargs):
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def sandbox(*args):
    return run(["bash", "sandbox/sandbox.sh", *args])


def remove_new_databases():
    """The new databases' containers and volumes removed (what provision creates), the old
    platform left as it is: a migration starts again from nothing on the same monolith."""
    containers = sorted({spec["endpoint"]["container"] for spec in SERVICES.values()})
    present = [c for c in containers if run(["docker", "container", "inspect", c], check=False).returncode == 0]
    if not present:
        return
    volumes = run(["docker", "inspect", "--format", "{{range .Mounts}}{{if .Name}}{{.Name}} {{end}}{{end}}",
                   *present]).stdout.split()
    run(["docker", "rm", "--force", *present])
    if volumes:
        run(["docker", "volume", "rm", *volumes])


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


def ansible_playbook(*args, env=None, timeout=1800):
    venv = os.path.join(ROOT, ".venv", "bin")
    full_env = dict(os.environ, PATH=f"{venv}:{os.environ['PATH']}", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
                    ANSIBLE_FORCE_COLOR="0", **(env or {}))
    # No terminal, as in CI or cron: a prompt (rollback's confirmation) gets no answer.
    return subprocess.run([os.path.join(venv, "ansible-playbook"), *args], cwd=ROOT, capture_output=True,
                          stdin=subprocess.DEVNULL, text=True, env=full_env, timeout=timeout)


def http_json(url, method="GET", body=None, status=200):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == status, f"{method} {url}: {response.status}"
        return json.load(response)


# The notification-worker marks a few notifications sent every few seconds on whichever
# database it runs: that column changes under any comparison made over time.
COLUMNS_WRITTEN_BY_WORKERS = {"notifications": ["sent_at"]}


def table_digests(container, database, tables, excluded=COLUMNS_WRITTEN_BY_WORKERS):
    """{table: (rows, digest)}: an order-independent digest of each table's rows, as jsonb
    text (canonical, so two servers render the same values the same way): sums of md5 halves,
    flat memory at any size (a string_agg of every row got the monolith's backend OOM-killed at
    5 GB in the benchmarks), independent of the tool's own proof (hashtextextended of row text)."""
    if not tables:
        return {}
    selects = []
    for number, table in enumerate(tables):
        drop = "'{" + ",".join(excluded.get(table.split(".")[-1], [])) + "}'::text[]"
        selects.append(f"SELECT {number}, count(*), coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0) || ':' "
                       f"|| coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0) FROM "
                       f"(SELECT md5((to_jsonb(r) - {drop})::text) AS h FROM {table} r) rows")
    # One query for all tables: one docker exec instead of one a table.
    return {tables[int(number)]: (int(rows), digest)
            for number, rows, digest in psql(container, database, " UNION ALL ".join(selects))}


def files_digest(*roots):
    """{path: sha256} of every file under the given directories (absent ones skipped)."""
    found = {}
    for root in roots:
        for directory, _, names in os.walk(root):
            for name in names:
                path = os.path.join(directory, name)
                with open(path, "rb") as stream:
                    found[path] = hashlib.sha256(stream.read()).hexdigest()
    return found


def platform_snapshot(state_dir):
    """Everything a run could change on the host: containers (identity, state, start
    time), volumes, networks, the project's and the tool's files, database settings
    and comments, and the monolith's rows."""
    ids = run(["docker", "ps", "-aq"]).stdout.split()
    containers = sorted(run(["docker", "inspect", "--format",
                             "{{.Name}} {{.Id}} {{.State.Status}} {{.State.StartedAt}} {{.RestartCount}}",
                             *ids]).stdout.splitlines()) if ids else []
    tables = [t for ts in MAP.values() for t in ts] + ["alembic_version"]
    return {
        "containers": containers,
        "volumes": sorted(run(["docker", "volume", "ls", "-q"]).stdout.split()),
        "networks": sorted(run(["docker", "network", "ls", "--format", "{{.Name}}"]).stdout.split()),
        "files": files_digest(PROJECT_DIR, state_dir),
        "lock": os.path.exists(state_dir + ".lock"),
        "databases": psql("yemma-postgres", "postgres",
                          "SELECT d.datname, coalesce(shobj_description(d.oid, 'pg_database'), ''), "
                          "coalesce(s.setconfig::text, '') FROM pg_database d LEFT JOIN pg_db_role_setting s "
                          "ON s.setdatabase = d.oid AND s.setrole = 0 ORDER BY 1"),
        "rows": table_digests("yemma-postgres", "yemma_db", tables),
    }


def assert_secret_kept(secret, result, state_dir, env_copy=".env"):
    """``secret`` (bytes) is in no output of ``result``, no file of ``state_dir`` but the .env
    copy rollback restores, and no report; the state dir's files are readable by their owner
    only (0600, directories 0700)."""
    assert secret.decode() not in result.stdout + result.stderr, "the password reached the output"
    for root in (state_dir, os.path.join(ROOT, "reports")):
        for directory, dirs, files in os.walk(root):
            for name in files:
                path = os.path.join(directory, name)
                if name != env_copy:
                    with open(path, "rb") as stream:
                        assert secret not in stream.read(), f"the password is in {path}"
                if root == state_dir:
                    assert os.stat(path).st_mode & 0o077 == 0, f"{path} is readable by others"
            if root == state_dir:
                for name in dirs:
                    assert os.stat(os.path.join(directory, name)).st_mode & 0o077 == 0, f"{directory}/{name} is open to others"



class WriteLoad:
    """A small load of reads and writes through the services' own endpoints (4 clients): a
    user created, then updated, or given a profile or a document, or a company or a payment
    created; then a list read back (their deletes meet foreign keys, or a uuid the routes do
    not take: deletes are made in SQL by the tests that need them). Every request that fails (refused,
    timed out, or answered with an error) is counted, by service and reason.
    ``start()``, then ``stop()`` returns {requests, failed, reasons, p50_ms, p99_ms} (the
    latencies of the requests that succeeded)."""

    WRITERS = ("auth", "candidate", "payment", "document", "company")

    def __init__(self, clients=4, pause=0.05):
        self.clients, self.pause = clients, pause
        self.counts = {"requests": 0, "failed": 0, "reasons": {}}
        self.latencies = []  # seconds, one float a request: a few MB for a day of load
        self._stop = threading.Event()
        self._threads = []
        self._lock = threading.Lock()

    def _count(self, service=None, exc=None, since=None):
        with self._lock:
            self.counts["requests"] += 1
            if since is not None:
                self.latencies.append(time.monotonic() - since)
            if exc is not None:
                self.counts["failed"] += 1
                reason = f"{service}: {getattr(exc, 'code', '')} {getattr(exc, 'reason', exc)}"
                self.counts["reasons"][reason] = self.counts["reasons"].get(reason, 0) + 1

    def _client(self, seed):
        # Addresses read once: the same containers serve until a cutover stops them. Each round
        # makes rows no other client touches (a new user, then that user's profile or document),
        # so that an answer other than success is the platform's failure, not a race of the load.
        urls = {service: f"http://{container_ip('yemma-' + service)}:8000" for service in self.WRITERS}
        rng = random.Random(seed)
        while not self._stop.is_set():
            service = "auth"
            try:
                since = time.monotonic()
                user = http_json(urls["auth"] + "/items", "POST", {}, status=201)
                self._count(since=since)
                service = rng.choice(self.WRITERS)
                since = time.monotonic()
                if service == "auth":
                    http_json(urls["auth"] + f"/items/{user['user_id']}", "PATCH", {"full_name": "load"})
                elif service == "candidate":
                    http_json(urls["candidate"] + "/items", "POST", {"user_id": user["user_id"]}, status=201)
                elif service == "document":
                    http_json(urls["document"] + "/items", "POST", {"owner_user_id": user["user_id"]}, status=201)
                else:
                    http_json(urls[service] + "/items", "POST", {}, status=201)
                self._count(since=since)
                since = time.monotonic()
                http_json(urls[service] + "/items")
                self._count(since=since)
            except (OSError, AssertionError, ValueError) as exc:
                self._count(service, exc)
            self._stop.wait(self.pause)

    def start(self):
        self._threads = [threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(self.clients)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        ordered = sorted(self.latencies)
        return dict(self.counts, p50_ms=percentile_ms(ordered, 50), p99_ms=percentile_ms(ordered, 99))


def percentile_ms(ordered, percent):
    """The ``percent``th percentile of sorted seconds, in milliseconds (nearest rank); None of none."""
    if not ordered:
        return None
    return round(1000 * ordered[min(len(ordered) - 1, -(-len(ordered) * percent // 100) - 1)], 1)


def descendants(pid):
    """Every process below ``pid`` (from /proc), ansible-core's workers included: they run in
    sessions of their own (setsid), so a killpg of the controller misses them."""
    children = {}
    for stat in os.listdir("/proc"):
        if stat.isdigit():
            try:
                with open(f"/proc/{stat}/stat") as stream:
                    ppid = int(stream.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(stat))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def write_through_auth_and_payment(services):
    """Writes through the new auth and payment services (a user, five payments, a refund), as
    the new platform takes them after a cutover. ``services``: the map that ran. Returns
    {table: (rows, digest)} of their tables as their new databases hold them, which a rollback
    must bring to yemma_db whole."""
    http_json(f"http://{container_ip('yemma-auth')}:8000/items", method="POST", body={}, status=201)
    payment = f"http://{container_ip('yemma-payment')}:8000"
    for _ in range(5):
        http_json(payment + "/items", method="POST", body={}, status=201)
    http_json(payment + "/items/3", method="PATCH", body={"status": "refunded"})
    return {table: table_digests(services[service]["endpoint"]["container"], services[service]["endpoint"]["database"],
                                 [table])[table]
            for service in ("auth", "payment") for table in MAP[service]}


def rolled_back_with(written, *args):
    """rollback.yml (``args`` after it), which must bring the old platform back with every table
    of ``written`` (write_through_auth_and_payment) equal on yemma_db."""
    rolled_back = ansible_playbook("rollback.yml", "-l", "sandbox", "-e", "rollback_confirm=true", *args)
    said = " ".join(rolled_back.stdout.split())
    assert rolled_back.returncode == 0, rolled_back.stdout[-6000:] + rolled_back.stderr[-3000:]
    assert "yemma_db serves the platform again; every write made since the cutover came back" in said
    assert health("yemma-auth") == "healthy" and health("yemma-postgres-auth") == "stopped"
    for table, digest in written.items():
        assert table_digests("yemma-postgres", "yemma_db", [table])[table] == digest, table
