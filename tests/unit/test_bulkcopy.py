"""The online copy's pure logic: how a table is cut in parts, in what order the parts run,
when the copy pauses (the SQL and the streaming run on real servers in
tests/e2e/test_online_copy.py)."""

from ansible_collections.yemma.dbsplit.plugins.module_utils import bulkcopy

MB = 1 << 20


def test_a_small_table_is_one_part_and_a_large_one_block_ranges_that_cover_every_block():
    small = {"table": "public.plans", "bytes": 8192, "blocks": 1}
    large = {"table": "public.notifications", "bytes": 1000 * MB, "blocks": 100_000}
    parts = bulkcopy.parts_of([small, large], 256 * MB, tid_ranges=True)
    assert parts[0] == {"table": "public.plans", "bytes": 8192, "blocks": None}
    ranges = [p["blocks"] for p in parts[1:]]
    # 1000 MB in parts of at most about 256 MB: 4 ranges, contiguous, the last open-ended
    # (a block added after the sizes were read is still read).
    assert ranges == [(0, 25_000), (25_000, 50_000), (50_000, 75_000), (75_000, None)]
    assert sum(p["bytes"] for p in parts[1:]) == 1000 * MB


def test_without_tid_range_scans_or_with_parts_off_every_table_is_whole():
    large = {"table": "public.notifications", "bytes": 1000 * MB, "blocks": 100_000}
    assert [p["blocks"] for p in bulkcopy.parts_of([large], 256 * MB, tid_ranges=False)] == [None]
    assert [p["blocks"] for p in bulkcopy.parts_of([large], 0, tid_ranges=True)] == [None]
    # An empty table, or one of fewer blocks than parts, is not cut finer than its blocks.
    assert bulkcopy.parts_of([{"table": "t", "bytes": 0, "blocks": 0}], 256 * MB, True)[0]["blocks"] is None
    tiny = bulkcopy.parts_of([{"table": "t", "bytes": 900 * MB, "blocks": 2}], 256 * MB, True)
    assert [p["blocks"] for p in tiny] == [(0, 1), (1, None)]


def test_a_part_reads_its_block_range_only():
    assert bulkcopy.block_filter(None) == ""
    assert bulkcopy.block_filter((0, 25)) == " WHERE ctid >= '(0,0)'::tid AND ctid < '(25,0)'::tid"
    assert bulkcopy.block_filter((75, None)) == " WHERE ctid >= '(75,0)'::tid"


def test_the_parts_of_every_target_run_largest_first():
    queue = bulkcopy.in_order({"a": [{"table": "t1", "bytes": 10, "blocks": None}],
                               "b": [{"table": "t2", "bytes": 300, "blocks": (0, 5)},
                                     {"table": "t2", "bytes": 200, "blocks": (5, None)}],
                               "c": [{"table": "t3", "bytes": 250, "blocks": None}]})
    assert [(key, part["bytes"]) for key, part in queue] == [("b", 300), ("c", 250), ("b", 200), ("a", 10)]


def test_the_copy_pauses_on_the_hosts_load_or_a_standbys_lag_and_not_without_a_limit():
    assert bulkcopy.pause_reason(1.5, 2.0, None, 1.0) is None
    assert bulkcopy.pause_reason(2.5, 2.0, None, 1.0) == ("load", "host load 2.5 per core > 2")
    assert bulkcopy.pause_reason(0.5, 2.0, 3.2, 1.0) == ("standby_lag", "a standby of the monolith lags 3.2 s > 1 s")
    assert bulkcopy.pause_reason(0.5, 2.0, 0.4, 1.0) is None
    # 0 is no limit.
    assert bulkcopy.pause_reason(9.0, 0, 99.0, 0) is None
