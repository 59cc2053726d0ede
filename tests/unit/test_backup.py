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


def test_the_originals_are_kept_private_and_never_overwritten(tmp_path):
    env = tmp_path / ".env"
    env.write_text("DB_PASSWORD=first\n")
    kept = tmp_path / "state" / "rollback"
    assert backup.keep_originals([str(env)], str(kept)) == [str(env)]
    assert (kept / ".env").read_text() == "DB_PASSWORD=first\n"
    assert oct((kept / ".env").stat().st_mode & 0o777) == "0o600" and oct(kept.stat().st_mode & 0o777) == "0o700"
    # A later run, after the file changed (the cutover's edits, an operator): the original stays.
    env.write_text("DB_PASSWORD=second\n")
    assert backup.keep_originals([str(env)], str(kept)) == []
    assert (kept / ".env").read_text() == "DB_PASSWORD=first\n"
