"""What the preflight reads of the host, in one round trip: Docker Compose's version, Docker's
data root, the compose files and how compose renders them, the external network, the images
on the host and the RAM.

Each was a task of its own (0.5-1 s over SSH each, on every run); the commands here run side
by side. Nothing is changed. What is missing or fails is returned for the preflight to record
as a problem with its fix, with the others found in the same run.
"""

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

TIMEOUT = 120  # seconds for one docker command (compose renders a file in well under a second)


def run(argv, cwd=None):
    """(returncode, stdout, stderr) of a command, never raising on its exit code."""
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT,
                              stdin=subprocess.DEVNULL, check=False)
    except FileNotFoundError:
        return 127, "", f"{argv[0]}: command not found"
    except subprocess.TimeoutExpired:
        return 124, "", f"`{' '.join(argv[:3])}` did not answer within {TIMEOUT} s"
    return done.returncode, done.stdout, done.stderr


def compose_config(project_dir, project_name, compose_file):
    """(the compose file as ``docker compose config`` renders it (JSON), None) or (None, the problem)."""
    rc, out, err = run(["docker", "compose", "--project-directory", project_dir, "-p", project_name,
                        "-f", compose_file, "config", "--format", "json"], cwd=project_dir)
    if rc != 0:
        return None, (f"{os.path.join(project_dir, compose_file)} cannot be rendered (docker compose config: "
                      f"{err.strip()[-1500:]}): fix the file, or the .env it reads")
    return json.loads(out), None


def image_names(listing):
    """The names the images on the host answer to, from ``docker image ls --format '{{json .}}'``
    lines: repository:tag and repository@digest."""
    names = []
    for line in listing.splitlines():
        if not line.strip():
            continue
        image = json.loads(line)
        repository, tag, digest = image.get("Repository"), image.get("Tag"), image.get("Digest")
        if repository and repository != "<none>":
            if tag and tag != "<none>":
                names.append(f"{repository}:{tag}")
            if digest and digest != "<none>":
                names.append(f"{repository}@{digest}")
    return names


# Where the postgres image keeps its data (an anonymous volume when the compose file mounts nothing there).
PGDATA = "/var/lib/postgresql/data"


def data_path(stack, compose_service, docker_root):
    """The host path whose filesystem will hold a compose service's PostgreSQL data
    (``stack``: `docker compose config --format json`). A bind mount or a local volume
    bound to a device lands there; any other volume under Docker's data root."""
    service = (stack or {}).get("services", {}).get(compose_service, {})
    for mount in service.get("volumes", []):
        if mount.get("target") != PGDATA:
            continue
        if mount.get("type") == "bind":
            return mount["source"]
        declared = (stack.get("volumes") or {}).get(mount.get("source"), {})
        options = declared.get("driver_opts") or {}
        if "bind" in options.get("o", "").split(",") and options.get("device"):
            return options["device"]
    return f"{docker_root}/volumes"


def free_space(paths):
    """{path: {"mount", "avail"}} for each path (the nearest existing parent is measured: a state
    directory not made yet lands on its parent's filesystem), or {"error"} when it cannot be."""
    found = {}
    for path in paths:
        probe = path
        while probe and not os.path.exists(probe):
            probe = os.path.dirname(probe.rstrip("/")) or "/"
        try:
            stat = os.statvfs(probe)
        except OSError as exc:
            found[path] = {"error": str(exc)}
            continue
        found[path] = {"mount": mount_point(probe), "avail": stat.f_bavail * stat.f_frsize}
    return found


def mount_point(path):
    """The mount point of the filesystem holding ``path``."""
    path = os.path.realpath(path)
    while not os.path.ismount(path):
        path = os.path.dirname(path)
    return path


def tagged(image):
    """An image name as the host lists it: without a tag it means ``:latest``."""
    last = image.rsplit("/", 1)[-1]
    return image if not image or ":" in last or "@" in last else image + ":latest"


def memtotal_mb(meminfo_text):
    """MemTotal in MB (MiB, as Ansible's ansible_memtotal_mb) from /proc/meminfo."""
    for line in meminfo_text.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise ValueError("/proc/meminfo has no MemTotal line")


def postgres_version(image):
    """(what ``postgres --version`` prints in ``image``, None) or (None, the problem): a throwaway
    container with no network, so a database that does not run yet is judged by its image."""
    rc, out, err = run(["docker", "run", "--rm", "--network", "none", "--entrypoint", "postgres", image, "--version"])
    if rc != 0:
        return None, (f"cannot read the PostgreSQL version of image {image} (postgres --version: {(err or out).strip()[-500:]}): "
                      "a new database's image must run a PostgreSQL server with postgres on its PATH")
    return out.strip(), None


def probe(project_dir, project_name, compose_files, network, postgres_services=(), space_paths=(), dump_file=None):
    """Read the host; return {compose_version: {rc, version, error}, docker_root, files: {file:
    exists}, configs: {file: rendered config}, network_exists, images: [names], memtotal_mb,
    postgres_versions: {service: version}, free_space: {path: {mount, avail} or {error}},
    dump_file_bytes, problems: [what could not be read, with the fix]}.

    ``postgres_services``: services of the first compose file that run a PostgreSQL server (the
    new databases); the version of each one's image is read, each image once, and the free
    space where each one's data lands measured, with ``space_paths`` and Docker's volumes.
    ``dump_file``: Option A's archive, whose size is read (None when it is not there)."""
    files = {name: os.path.exists(os.path.join(project_dir, name)) for name in compose_files}
    with ThreadPoolExecutor(max_workers=4 + len(files)) as pool:
        version = pool.submit(run, ["docker", "compose", "version", "--short"])
        root = pool.submit(run, ["docker", "info", "--format", "{{.DockerRootDir}}"])
        net = pool.submit(run, ["docker", "network", "inspect", "--format", "{{.Name}}", network])
        images = pool.submit(run, ["docker", "image", "ls", "--no-trunc", "--digests", "--format", "{{json .}}"])
        configs = {name: pool.submit(compose_config, project_dir, project_name, name) for name, found in files.items() if found}
    problems = []
    root_rc, root_out, root_err = root.result()
    images_rc, images_out, images_err = images.result()
    for command, rc, err in (("docker info", root_rc, root_err), ("docker image ls", images_rc, images_err)):
        if rc != 0:
            problems.append(f"{command} failed ({err.strip()[-500:]}): Docker must be installed and running on the host")
    rendered = {}
    for name, future in configs.items():
        config, problem = future.result()
        if problem:
            problems.append(problem)
        else:
            rendered[name] = config
    versions = {}
    first = rendered.get(compose_files[0], {}).get("services", {})
    # Only images on the host: a missing one is a problem of its own (the preflight's image check).
    present = set(image_names(images_out)) if images_rc == 0 else set()
    images = {first[name]["image"] for name in postgres_services
              if tagged(first.get(name, {}).get("image") or "") in present}
    if images:
        with ThreadPoolExecutor(max_workers=len(images)) as pool:
            by_image = dict(zip(images, pool.map(postgres_version, images)))
        for image, (_text, problem) in sorted(by_image.items()):
            if problem:
                problems.append(problem)
        versions = {name: by_image[first[name]["image"]][0] for name in postgres_services
                    if first.get(name, {}).get("image") in by_image and by_image[first[name]["image"]][0]}
    version_rc, version_out, version_err = version.result()
    docker_root = root_out.strip() if root_rc == 0 else ""
    with open("/proc/meminfo") as meminfo:
        memory = memtotal_mb(meminfo.read())
    return {
        "compose_version": {"rc": version_rc, "version": version_out.strip(), "error": (version_err or version_out).strip()},
        "docker_root": docker_root,
        "files": files,
        "configs": rendered,
        "network_exists": net.result()[0] == 0,
        "images": image_names(images_out) if images_rc == 0 else [],
        "memtotal_mb": memory,
        "postgres_versions": versions,
        "free_space": free_space(sorted(set(space_paths) | {data_path(rendered.get(compose_files[0]), name, docker_root)
                                                            for name in postgres_services} | {f"{docker_root}/volumes"})),
        "dump_file_bytes": os.path.getsize(dump_file) if dump_file and os.path.isfile(dump_file) else None,
        "problems": problems,
    }
