"""Selecting one target's share of the backup's table of contents."""

import json
import os

import pytest

from ansible_collections.yemma.dbsplit.plugins.module_utils import plan, toc
from test_plan import services

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


@pytest.fixture(scope="module")
def result():
    with open(os.path.join(FIXTURES, "yemma_catalog.json")) as stream:
        return plan.build_plan(json.load(stream), services())


@pytest.fixture(scope="module")
def listing():
    with open(os.path.join(FIXTURES, "yemma_toc.txt")) as stream:
        return stream.read()


def selected(result, listing, database):
    target = next(t for t in result["targets"] if t["database"] == database)
    text, count = toc.filter_listing(listing, target["objects"])
    lines = text.strip().splitlines()
    assert len(lines) == count
    return [line.split(" ", 3)[3] for line in lines]


def test_auth_gets_its_types_functions_extension_and_data(result, listing):
    entries = selected(result, listing, "auth_db")
    for expected in ("EXTENSION - citext ", "COMMENT - EXTENSION citext ", "TYPE public userstatus postgres",
                     "FUNCTION public set_updated_at() postgres", "TABLE DATA public users postgres",
                     "SEQUENCE SET public users_id_seq postgres", "TRIGGER public users trg_users_updated_at postgres",
                     "INDEX public ix_refresh_tokens_live_token postgres",
                     "FK CONSTRAINT public user_roles user_roles_role_id_fkey postgres"):
        assert expected in entries
    assert not any("profiles" in e or "alembic_version" in e for e in entries)


def test_partitions_come_with_data_and_attachments(result, listing):
    entries = selected(result, listing, "logs_db")
    for part in ("access_logs_2025", "access_logs_2026", "access_logs_default"):
        assert f"TABLE DATA public {part} postgres" in entries
        assert f"TABLE ATTACH public {part} postgres" in entries
    assert "INDEX ATTACH public access_logs_default_user_id_idx postgres" in entries


def test_cross_database_foreign_keys_are_not_restored(result, listing):
    entries = selected(result, listing, "candidate_db")
    assert not any("profiles_user_id_fkey" in e for e in entries)
    assert "FK CONSTRAINT public experiences experiences_profile_id_fkey postgres" in entries


def test_every_toc_entry_lands_in_at_most_one_target_except_shared_objects(result, listing):
    owners = {}
    for target in result["targets"]:
        for entry in selected(result, listing, target["database"]):
            owners.setdefault(entry, []).append(target["database"])
    shared = {e for e, dbs in owners.items() if len(dbs) > 1}
    assert shared == {"FUNCTION public set_updated_at() postgres"}


def test_backup_of_another_database_is_refused(result, listing):
    target = next(t for t in result["targets"] if t["database"] == "auth_db")
    without_users_data = "\n".join(l for l in listing.splitlines() if "TABLE DATA public users " not in l)
    with pytest.raises(toc.TocError, match="public.users"):
        toc.filter_listing(without_users_data, target["objects"])


def test_unexpected_line_is_an_error():
    with pytest.raises(toc.TocError):
        list(toc.parse("garbage line"))


# Large-object entries as pg_restore -l of PostgreSQL 15 prints them (a lo_from_bytea'd
# set, one with a comment, one with a grant), spliced into the yemma listing.
LARGE_OBJECT_LINES = """\
3354; 2613 16405 BLOB - 16405 app
3367; 0 0 COMMENT - LARGE OBJECT 16405 app
3357; 2613 16406 BLOB - 16406 app
3368; 0 0 ACL - LARGE OBJECT 16406 app
3355; 2613 16407 BLOB - 16407 app
3356; 2613 16408 BLOB - 16408 app
3358; 0 0 BLOBS - BLOBS 
"""
PLANNED_LARGE_OBJECTS = {"count": 4, "bytes": 5255480, "note": None}


def with_large_objects(listing):
    return listing + LARGE_OBJECT_LINES


def test_large_objects_go_to_the_target_that_receives_them(result, listing):
    target = next(t for t in result["targets"] if t["database"] == "document_db")
    text, count = toc.filter_listing(with_large_objects(listing), target["objects"], PLANNED_LARGE_OBJECTS)
    without, count_without = toc.filter_listing(listing, target["objects"])
    assert text == without + LARGE_OBJECT_LINES
    assert count == count_without + 7


def test_other_targets_get_no_large_object_entry(result, listing):
    for target in result["targets"]:
        text, _count = toc.filter_listing(with_large_objects(listing), target["objects"])
        assert "BLOB" not in text and "LARGE OBJECT" not in text


def test_planned_large_objects_missing_from_the_backup_are_refused(result, listing):
    target = next(t for t in result["targets"] if t["database"] == "document_db")
    with pytest.raises(toc.TocError, match="4 large objects, but the backup holds none"):
        toc.filter_listing(listing, target["objects"], PLANNED_LARGE_OBJECTS)
