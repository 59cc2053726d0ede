"""Run PostgreSQL client tools (pg_dump, pg_restore) in a one-off container.

The tools come from the server's own image (or a configured one for a server given
by address), so the client is never older than the server. The container joins the
server's Docker network and reaches it by name; the password travels only through the
environment (``-e PGPASSWORD`` copies it from the calling process, never from argv).
Every call checks the exit code and fails with the tool's stderr.
"""

import re
import subprocess

class ToolError(RuntimeError):
    pass


def run_command(argv, env=None, check=True, timeout=None):
    """Run a command (docker, here); with ``check``, fail with its stderr on a non-zero exit."""
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=timeout)
    if check and result.returncode != 0:
        raise ToolError(f"{' '.join(argv[:6])}... exited {result.returncode}: {result.stderr.strip()[-2000:]}")
    return result


def remove_stale(name):
    """A run killed mid-way leaves its tool container running: stop it before anything else."""
    if run_command(["docker", "container", "inspect", name], check=False).returncode == 0:
        run_command(["docker", "rm", "--force", name])
        return True
    return False


def tool_argv(runtime, tool, args, name, mounts=(), settings=None):
    """docker run argv for ``tool args`` against ``runtime`` (image, network, host, port, and the
    name of this tool, which labels the container)."""
    argv = ["docker", "run", "--rm", "--name", name, "--label", runtime["tool"],
            "--network", runtime["network"], "--entrypoint", tool,
            "-e", "PGPASSWORD", "-e", "PGCONNECT_TIMEOUT=10"]
    if settings:
        argv += ["-e", "PGOPTIONS=" + " ".join(f"-c {key}={value}" for key, value in settings.items())]
    for host_dir, container_dir, mode in mounts:
        argv += ["-v", f"{host_dir}:{container_dir}:{mode}"]
    argv.append(runtime["image"])
    argv += ["--host", runtime["host"], "--port", str(runtime["port"]), "--username", runtime["user"]]
    argv += list(args)
    return argv


def run_tool(runtime, password, tool, args, name, mounts=(), settings=None, timeout=None):
    """Run a tool to completion; return its stdout. Raise ToolError on any failure.

    ``settings``: server settings for the tool's sessions (PGOPTIONS), e.g. work memory.
    ``timeout``: seconds it may take; then its container is removed and ToolError raised."""
    env = {"PGPASSWORD": password}
    remove_stale(name)
    try:
        result = run_command(tool_argv(runtime, tool, args, name, mounts, settings), env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        remove_stale(name)
        raise ToolError(f"{tool} did not end within {timeout} s: stopped") from None
    errors = [line for line in result.stderr.splitlines() if re.search(r"\b(error|FATAL)\b", line)]
    if errors:
        # pg_restore without --exit-on-error would still exit 0 on some failures: never trust rc alone.
        raise ToolError(f"{tool} reported errors: {' | '.join(errors[:20])}")
    return result.stdout


def tool_major_version(image, tool):
    out = run_command(["docker", "run", "--rm", "--entrypoint", tool, image, "--version"]).stdout
    match = re.search(r"\(PostgreSQL\) (\d+)", out)
    if not match:
        raise ToolError(f"cannot read the version of {tool} in image {image}: {out!r}")
    return int(match.group(1))


def check_client_version(image, tool, server_version_num):
    """Refuse a client older than the server: it could not read or write its format."""
    client = tool_major_version(image, tool)
    server = server_version_num // 10000
    if client < server:
        raise ToolError(f"{tool} in image {image} is PostgreSQL {client}, older than the server ({server}): "
                        "set the endpoint's tools_image to an image with a client >= the server")
    return client
