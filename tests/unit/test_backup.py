"""The backup manifest: an archive is restored from only while it matches its recorded checksum."""

import hashlib
import json

import pytest

from ansible_collections.yemma.dbsplit.plugins.module_utils import backup, pgtools


def write_backup(directory, payload=b"PGDMP" + bytes(range(256)) * 5000):
    archive, _partial, manifest_path = backup.paths(str(directory), "yemma_db")
    with open(archive, "wb") as stream:
        stream.write(payload)
    manifest = {"archive": archive, "sha256": hashlib.sha256(payload).hexdigest()}
    with open(manifest_path, "w") as stream:
        json.dump(manifest, stream)
    return archive, manifest


def test_an_intact_backup_is_restored_from(tmp_path):
    _archive, manifest = write_backup(tmp_path)
    backup.check_archive(manifest)


def test_a_damaged_archive_is_never_restored_from(tmp_path):
    archive, manifest = write_backup(tmp_path)
    with open(archive, "r+b") as stream:
        stream.seek(1000)
        stream.write(b"x")
    with pytest.raises(pgtools.ToolError, match="does not match its recorded checksum"):
        backup.check_archive(manifest)


def test_a_missing_archive_names_the_phase_to_run_again(tmp_path):
    archive, manifest = write_backup(tmp_path)
    (tmp_path / "yemma_db.dump").unlink()
    with pytest.raises(pgtools.ToolError, match="missing: run the backup phase again"):
        backup.check_archive(manifest)
