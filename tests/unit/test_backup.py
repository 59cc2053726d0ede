"""The backup manifest: an archive taken or adopted (Option A) is reused only while intact."""

import hashlib

import pytest

from ansible.module_utils.dbsplit import backup, pgtools


@pytest.fixture
def dump(tmp_path):
    path = tmp_path / "given" / "yemma_full_backup.dump"
    path.parent.mkdir()
    path.write_bytes(b"PGDMP" + bytes(range(256)) * 5000)
    return path


def test_an_adopted_dump_is_recorded_in_place_with_its_checksum(dump, tmp_path):
    manifest = backup.adopt(str(dump), str(tmp_path / "state"), "yemma_db", 150000)
    assert manifest["archive"] == str(dump)
    assert manifest["sha256"] == hashlib.sha256(dump.read_bytes()).hexdigest()
    assert manifest["id"] == manifest["sha256"][:16] and manifest["bytes"] == dump.stat().st_size
    assert backup.existing(str(tmp_path / "state"), "yemma_db", str(dump)) == manifest


def test_another_dump_file_is_not_taken_for_the_recorded_one(dump, tmp_path):
    backup.adopt(str(dump), str(tmp_path / "state"), "yemma_db", 150000)
    other = tmp_path / "other.dump"
    other.write_bytes(dump.read_bytes())
    assert backup.existing(str(tmp_path / "state"), "yemma_db", str(other)) is None


def test_a_damaged_archive_is_never_reused(dump, tmp_path):
    backup.adopt(str(dump), str(tmp_path / "state"), "yemma_db", 150000)
    with open(dump, "r+b") as stream:
        stream.seek(1000)
        stream.write(b"x")
    with pytest.raises(pgtools.ToolError, match="does not match its recorded checksum"):
        backup.existing(str(tmp_path / "state"), "yemma_db", str(dump))


def test_no_manifest_means_no_backup(tmp_path):
    assert backup.existing(str(tmp_path), "yemma_db") is None
