"""Selecting one target's share of the backup's table of contents, read from the archive.

yemma_toc.dump is the header and TOC of a real pg_dump -Fc of the sandbox's yemma_db
(tests/unit/fixtures/capture.py); its data is cut off, which the reader never reaches.
"""

import json
import os

import pytest

from ansible_collections.yemma.dbsplit.plugins.module_utils import plan, toc
from test_plan import services

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
ARCHIVE = os.path.join(FIXTURES, "yemma_toc.dump")


@pytest.fixture(scope="module")
def result():
    with open(os.path.join(FIXTURES, "yemma_catalog.json")) as stream:
        return plan.build_plan(json.load(stream), services())


@pytest.fixture(scope="module")
def entries():
    database, entries = toc.read_toc(ARCHIVE)
    assert database == "yemma_db"
    return entries


def target_of(result, database):
    return next(t for t in result["targets"] if t["database"] == database)


def selected(result, entries, database, large_objects=None):
    text, count = toc.filter_entries(entries, target_of(result, database)["objects"], large_objects)
    lines = text.strip().splitlines()
    assert len(lines) == count
    # What follows "<id>; <catalog oid> <oid> ": description, schema, name, owner.
    return [line.split(" ", 3)[3] for line in lines]


def test_auth_gets_its_types_functions_extension_and_data(result, entries):
    chosen = selected(result, entries, "auth_db")
    for expected in ("EXTENSION - citext", "COMMENT - EXTENSION citext",
                     "TYPE public userstatus postgres", "FUNCTION public set_updated_at() postgres",
                     "TABLE DATA public users postgres", "SEQUENCE SET public users_id_seq postgres",
                     "TRIGGER public users trg_users_updated_at postgres",
                     "INDEX public ix_refresh_tokens_live_token postgres",
                     "FK CONSTRAINT public user_roles user_roles_role_id_fkey postgres"):
        assert expected in chosen
    assert not any("profiles" in e or "alembic_version" in e for e in chosen)


def test_the_list_keeps_the_archive_order_pg_restore_follows(result, entries):
    text, _count = toc.filter_entries(entries, target_of(result, "auth_db")["objects"])
    ids = [int(line.split(";")[0]) for line in text.splitlines()]
    order = [e.dump_id for e in entries if e.dump_id in set(ids)]
    assert ids == order
    chosen = selected(result, entries, "auth_db")
    assert chosen.index("TYPE public userstatus postgres") < chosen.index("TABLE public users postgres") \
        < chosen.index("TABLE DATA public users postgres") < chosen.index("SEQUENCE SET public users_id_seq postgres")


def test_partitions_come_with_data_and_attachments(result, entries):
    chosen = selected(result, entries, "logs_db")
    for part in ("access_logs_2025", "access_logs_2026", "access_logs_default"):
        assert f"TABLE DATA public {part} postgres" in chosen
        assert f"TABLE ATTACH public {part} postgres" in chosen
    assert "INDEX ATTACH public access_logs_default_user_id_idx postgres" in chosen


def test_cross_database_foreign_keys_are_not_restored(result, entries):
    chosen = selected(result, entries, "candidate_db")
    assert not any("profiles_user_id_fkey" in e for e in chosen)
    assert "FK CONSTRAINT public experiences experiences_profile_id_fkey postgres" in chosen


def test_every_toc_entry_lands_in_at_most_one_target_except_shared_objects(result, entries):
    owners = {}
    for target in result["targets"]:
        for entry in selected(result, entries, target["database"]):
            owners.setdefault(entry, []).append(target["database"])
    shared = {e for e, dbs in owners.items() if len(dbs) > 1}
    assert shared == {"FUNCTION public set_updated_at() postgres"}


def test_every_entry_but_the_monolith_s_own_goes_somewhere(result, entries):
    """Nothing of the archive is dropped without the plan saying so: what no target takes is
    alembic's version table, the foreign keys that cross databases, and the database itself
    (which pg_restore creates only with --create)."""
    taken = set()
    for target in result["targets"]:
        text, _count = toc.filter_entries(entries, target["objects"])
        taken |= {int(line.split(";")[0]) for line in text.splitlines()}
    dropped = {e.tag for t in result["targets"] for e in entries
               if e.desc == "FK CONSTRAINT" and any(e.tag.endswith(" " + fk["constraint"])
                                                    for fk in t["dropped_foreign_keys"])}
    left = sorted((e.desc, e.tag) for e in entries if e.dump_id not in taken and e.desc not in toc.SPECIAL_DESCS
                  and e.tag not in dropped and "alembic_version" not in e.tag)
    assert left == [("DATABASE", "yemma_db")]


def test_backup_of_another_database_is_refused(result, entries):
    without_users_data = [e for e in entries if not (e.desc == "TABLE DATA" and e.tag == "users")]
    with pytest.raises(toc.TocError, match="public.users"):
        toc.filter_entries(without_users_data, target_of(result, "auth_db")["objects"])


def test_a_file_that_is_not_an_archive_is_refused(tmp_path):
    listing = tmp_path / "listing.txt"
    listing.write_text("6; 2615 16384 SCHEMA - reporting postgres\n")
    with pytest.raises(toc.TocError, match="not a pg_dump custom-format archive"):
        toc.read_toc(str(listing))


def test_a_truncated_archive_is_refused(tmp_path):
    with open(ARCHIVE, "rb") as stream:
        head = stream.read(4000)
    cut = tmp_path / "cut.dump"
    cut.write_bytes(head)
    with pytest.raises(toc.TocError, match="truncated"):
        toc.read_toc(str(cut))


# Large-object entries as pg_dump 15 writes them (one with a comment, one with a grant),
# appended to the yemma archive's entries.
LARGE_OBJECT_ENTRIES = [
    toc.Entry(9001, 2613, 16405, "BLOB", None, "16405", "app", ()),
    toc.Entry(9002, 0, 0, "COMMENT", None, "LARGE OBJECT 16405", "app", (9001,)),
    toc.Entry(9003, 2613, 16406, "BLOB", None, "16406", "app", ()),
    toc.Entry(9004, 0, 0, "ACL", None, "LARGE OBJECT 16406", "app", (9003,)),
    toc.Entry(9005, 0, 0, "BLOBS", None, "BLOBS", None, ()),
]
PLANNED_LARGE_OBJECTS = {"count": 2, "bytes": 5255480, "note": None}


def test_large_objects_go_to_the_target_that_receives_them(result, entries):
    objects = target_of(result, "document_db")["objects"]
    text, count = toc.filter_entries(entries + LARGE_OBJECT_ENTRIES, objects, PLANNED_LARGE_OBJECTS)
    without, count_without = toc.filter_entries(entries, objects)
    assert count == count_without + 5
    assert text.startswith(without) and "9002; 0 0 COMMENT - LARGE OBJECT 16405 app" in text


def test_other_targets_get_no_large_object_entry(result, entries):
    for target in result["targets"]:
        text, _count = toc.filter_entries(entries + LARGE_OBJECT_ENTRIES, target["objects"])
        assert "BLOB" not in text and "LARGE OBJECT" not in text


def test_planned_large_objects_missing_from_the_backup_are_refused(result, entries):
    with pytest.raises(toc.TocError, match="2 large objects, but the backup holds none"):
        toc.filter_entries(entries, target_of(result, "document_db")["objects"], PLANNED_LARGE_OBJECTS)
