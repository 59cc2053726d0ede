"""The backup manifest: an archive is reused only while it matches its recorded checksum."""

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


def test_an_intact_backup_is_reused(tmp_path):
    _archive, manifest = write_backup(tmp_path)
    assert backup.existing(str(tmp_path), "yemma_db") == manifest


def test_a_damaged_archive_is_never_reused(tmp_path):
    archive, _manifest = write_backup(tmp_path)
    with open(archive, "r+b") as stream:
        stream.seek(1000)
        stream.write(b"x")
    with pytest.raises(pgtools.ToolError, match="does not match its recorded checksum"):
        backup.existing(str(tmp_path), "yemma_db")


def test_an_archive_without_manifest_is_not_a_backup(tmp_path):
    write_backup(tmp_path)
    (tmp_path / "yemma_db.manifest.json").unlink()
    assert backup.existing(str(tmp_path), "yemma_db") is None
