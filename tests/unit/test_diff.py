"""The diff's pure part: how many buckets, the bitmap the server tests, the merge of two
key-ordered streams into exact counts and the first keys. The scans run on real servers in
tests/e2e/test_rows_differ.py."""

import json
import os

from ansible_collections.yemma.dbsplit.plugins.module_utils import audit, diff, verify


def test_buckets_hold_about_32_rows_within_bounds():
    assert diff.bucket_count(0) == diff.MIN_BUCKETS == 1024
    assert diff.bucket_count(32 * 4096) == 4096
    assert diff.bucket_count(32 * 4096 + 1) == 8192
    assert diff.bucket_count(10 ** 10) == diff.MAX_BUCKETS


def test_the_bitmap_sets_bit_n_as_get_bit_reads_it():
    bits = diff.bitmap([0, 9, 1023], 1024)
    assert len(bits) == 128 and bits[0] == 0b1 and bits[1] == 0b10 and bits[127] == 0b10000000


def test_only_the_buckets_whose_figures_differ_are_read_again():
    source = [(1, 10, "5", "6"), (2, 10, "7", "8"), (4, 3, "1", "1")]
    target = [(1, 10, "5", "6"), (2, 10, "7", "9"), (3, 1, "2", "2")]
    assert diff.differing_buckets(source, target) == [2, 3, 4]


def test_keyed_rows_are_missing_extra_or_different_and_equal_rows_pair_up():
    source = [("(1)", 5), ("(2)", 6), ("(4)", 1), ("(5)", 2)]
    target = [("(1)", 5), ("(2)", 7), ("(3)", 1), ("(5)", 2), ("(5)", 2)]  # (5) twice: its unique index is gone
    found = diff.compare_rows(source, target, ["id"], diff.Differences(20))
    assert found.counts == {"missing": 1, "extra": 2, "different": 1}
    assert found.keys == {"missing": ["(id)=(4)"], "extra": ["(id)=(3)", "(id)=(5)"], "different": ["(id)=(2)"]}


def test_counts_stay_exact_past_the_sample_and_keyless_rows_are_named_by_ctid_only():
    source = [("h1", 3, ["(0,1)", "(0,2)", "(0,3)"]), ("h2", 1, ["(0,4)"])]
    target = [("h1", 1, ["(1,1)"]), ("h3", 4, ["(1,2)"])]  # the server sent one ctid of four (sample 1)
    found = diff.compare_rows(source, target, None, diff.Differences(1))
    assert found.counts == {"missing": 3, "extra": 4, "different": 0}
    assert found.keys == {"missing": ["source ctid (0,1)"], "extra": ["target ctid (1,2)"], "different": []}


def test_the_summary_gives_the_counts_then_the_first_keys():
    found = diff.compare_rows([("(1)", 5), ("(2)", 6)], [("(2)", 7)], ["id"], diff.Differences(1))
    result = found.result(["id"], 1024, [3, 9])
    assert result["differing_buckets"] == 2 and result["recheck"] is None  # nothing remembered: no re-check
    assert diff.summary(result) == "rows by key (id): 1 missing, 1 different; missing: (id)=(1); different: (id)=(2)"
    assert diff.summary(diff.Differences(5).result(None, 1024, [])) == "rows by whole rows (no key): no row differs"


def test_a_re_check_counts_only_the_rows_seen_differing_before_and_only_when_it_remembered_them_all():
    first = diff.compare_rows([("(1)", 5), ("(2)", 6), ("(3)", 1)], [("(2)", 7), ("(3)", 2)], ["id"],
                              diff.Differences(1, remember=10))
    result = first.result(["id"], 1024, [4])
    assert result["recheck"] == {"buckets": [4], "names": ["(id)=(1)", "(id)=(2)", "(id)=(3)"]}
    # Later: (1) arrived, (2) still differs, (4) is new (written since: not looked at).
    again = diff.compare_rows([("(1)", 5), ("(2)", 6), ("(3)", 1), ("(4)", 1)], [("(1)", 5), ("(2)", 8), ("(3)", 1)],
                              ["id"], diff.Differences(5, only=set(result["recheck"]["names"])))
    assert again.counts == {"missing": 0, "extra": 0, "different": 1} and again.keys["different"] == ["(id)=(2)"]
    too_many = diff.compare_rows([("(1)", 5), ("(2)", 6)], [], ["id"], diff.Differences(1, remember=1))
    assert too_many.result(["id"], 1024, [1])["recheck"] is None


def test_each_stage_of_the_migration_is_read_at_its_consistent_point():
    def recorded(stage, reverse_live=False, online_copy=None):
        return {"stage": stage, "reverse_live": reverse_live, "online_copy": online_copy}
    assert audit.consistent_point(recorded("cutover", reverse_live=True)) == "reverse_stream"
    assert audit.consistent_point(recorded("completed", reverse_live=True)) == "reverse_stream"
    assert audit.consistent_point(recorded("completed")) == "snapshots"  # no reverse stream
    assert audit.consistent_point(recorded("finished")) == "snapshots"
    assert audit.consistent_point(recorded("migrating", online_copy={"tables": 3})) == "online_copy"
    assert audit.consistent_point(recorded("migrating")) == "snapshots"  # offline, or online before its copy


def test_progress_says_tables_and_megabytes_done_and_the_time_left(tmp_path):
    path = str(tmp_path / "verify.progress")
    progress = verify.Progress(path)
    progress.start(4, 400 * 1048576)
    progress.done_tables, progress.done_bytes, progress.started = 1, 100 * 1048576, progress.started - 10
    progress.write()
    written = json.load(open(path))
    assert written["tables_done"] == 1 and written["bytes"] == 400 * 1048576
    assert written["line"] == "1 of 4 tables compared (100.0 of 400.0 MB), 10 s, about 30 s left"
    assert not os.path.exists(path + ".tmp")
