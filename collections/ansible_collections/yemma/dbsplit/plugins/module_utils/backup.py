"""The full backup of the source: one pg_dump custom-format archive and its manifest.

The archive is written under a temporary name and renamed only once pg_dump has exited
0 and its SHA-256 is recorded, so a run killed mid-backup never leaves a file that
looks complete. Its checksum is computed by streaming 1 MiB blocks.
"""

import hashlib
import json
import os
import time

from ansible_collections.yemma.dbsplit.plugins.module_utils import pgtools

BLOCK = 1 << 20


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def write_private(path, text):
    """Write ``text`` to a file only its owner can read (the backup's companions name every table)."""
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as stream:
        stream.write(text)


def keep_originals(files, directory):
    """Copy ``files`` into ``directory`` (0700) as private copies (0600), unless a copy is there
    already (an earlier run kept the originals: never overwritten). Return the files copied."""
    copied = []
    if files:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    for path in files:
        kept = os.path.join(directory, os.path.basename(path))
        if os.path.exists(kept):
            continue
        with open(path, "rb") as source:
            content = source.read()
        with open(os.open(kept + ".partial", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        os.rename(kept + ".partial", kept)
        copied.append(path)
    return copied


def paths(directory, database):
    archive = os.path.join(directory, f"{database}.dump")
    return archive, archive + ".partial", os.path.join(directory, f"{database}.manifest.json")


def check_archive(manifest):
    """Refuse an archive that is missing or no longer matches its recorded checksum (the
    transfer restores nothing from a damaged backup)."""
    archive = manifest["archive"]
    if not os.path.exists(archive):
        raise pgtools.ToolError(f"the backup {archive} is missing: run the backup phase again (--tags backup)")
    if sha256_file(archive) != manifest["sha256"]:
        raise pgtools.ToolError(f"{archive} does not match its recorded checksum: the backup is damaged; "
                                "move it aside and run the backup phase again (--tags backup)")


def take(runtime, password, database, directory, compress_level, server_version):
    """pg_dump the whole database into ``directory``; return the manifest."""
    archive, partial, manifest_path = paths(directory, database)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    if os.path.exists(partial):
        os.remove(partial)
    started = time.monotonic()
    name = os.path.basename(partial)
    pgtools.run_tool(runtime, password, "pg_dump",
                     ["--dbname", database, "--format", "custom", "--compress", str(compress_level),
                      "--file", f"/backup/{name}"],
                     name=f"{runtime['tool']}-backup-{database}", mounts=[(directory, "/backup", "rw")])
    seconds = time.monotonic() - started
    # Every user's rows and password hashes: readable by its owner only, whatever pg_dump's umask.
    os.chmod(partial, 0o600)
    checksum = sha256_file(partial)
    with open(partial, "rb+") as stream:
        os.fsync(stream.fileno())
    os.rename(partial, archive)
    manifest = {
        "database": database,
        "archive": archive,
        "sha256": checksum,
        "id": checksum[:16],
        "bytes": os.path.getsize(archive),
        "seconds": round(seconds, 2),
        "server_version": server_version,
        "taken_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_private(manifest_path + ".partial", json.dumps(manifest, indent=2))
    os.rename(manifest_path + ".partial", manifest_path)
    return manifest
