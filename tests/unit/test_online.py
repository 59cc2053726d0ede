"""Online mode's pure logic: names, the operator's progress line, which copies are late, and
the restore list without the copied tables' rows (the SQL runs on real servers in
tests/e2e/test_online_copy.py)."""

import re

from ansible_collections.yemma.dbsplit.plugins.filter import dbsplit as filters
from ansible_collections.yemma.dbsplit.plugins.module_utils import online, reverse, toc

PROGRESS = {"tables": [{"table": "public.users", "state": "r", "bytes_done": 600 << 20, "bytes": 600 << 20,
                        "rows_done": 4_000_000, "rows": 4_000_000},
                       {"table": "public.profiles", "state": "d", "bytes_done": 100 << 20, "bytes": 400 << 20,
                        "rows_done": 250_000, "rows": 1_000_000}],
            "copied": 1, "count": 2, "bytes_done": 700 << 20, "bytes": 1000 << 20}


def test_the_online_stream_has_its_own_valid_name_apart_from_the_reverse_one():
    name = online.stream_name("pg/app", "app")
    assert re.fullmatch(r"[a-z0-9_]{1,63}", name) and name.startswith("dbsplit_online_app_")
    assert name != reverse.subscription_name("pg/app", "app")


def test_the_progress_line_gives_bytes_done_of_total_the_time_left_and_the_tables_being_copied():
    line = online.progress_line("candidate_db", PROGRESS, {}, started_at=1000.0, now=1070.0)
    # 700 MB in 70 s: 300 MB left at 10 MB/s.
    assert line == ("candidate_db: 1/2 tables copied, 700.0 MB of 1000.0 MB (70%), about 30 s left; "
                    "copying public.profiles 250,000 of ~1,000,000 rows")
    done = dict(PROGRESS, copied=2, bytes_done=1000 << 20)
    assert online.progress_line("candidate_db", done, {"lag_bytes": 2048, "lag_seconds": 0.4}, 1000.0, 1100.0) == \
        "candidate_db: 2/2 tables copied, 1000.0 MB of 1000.0 MB; streaming, lag 2.0 kB, 0.4 s"


def test_a_copy_is_late_until_copied_whole_and_under_the_lag_allowed():
    copying = {"line": "a", "progress": PROGRESS, "status": {"lag_bytes": 0}}
    behind = {"line": "b", "progress": dict(PROGRESS, copied=2), "status": {"lag_bytes": 50 << 20}}
    ready = {"line": "c", "progress": dict(PROGRESS, copied=2), "status": {"lag_bytes": 100}}
    assert filters.online_late([copying, behind, ready], 16 << 20) == ["a", "b"]


def test_the_schema_restore_leaves_out_exactly_the_rows_of_the_copied_tables_and_their_views():
    entries = [toc.Entry(1, 1259, 100, "TABLE", "public", "users", "", ()),
               toc.Entry(2, 0, 100, "TABLE DATA", "public", "users", "", (1,)),
               toc.Entry(3, 1259, 200, "TABLE", "public", "plans", "", ()),
               toc.Entry(4, 0, 200, "TABLE DATA", "public", "plans", "", (3,)),
               toc.Entry(5, 2606, 300, "CONSTRAINT", "public", "users users_pkey", "", (1,)),
               toc.Entry(6, 1259, 400, "MATERIALIZED VIEW", "public", "user_counts", "", (1,)),
               toc.Entry(7, 0, 400, "MATERIALIZED VIEW DATA", "public", "user_counts", "", (6,))]
    listing = "".join(toc._line(e) + "\n" for e in entries)
    kept, count = toc.without_rows_of(listing, entries, {100, 400})
    assert count == 5 and [int(line.split(";")[0]) for line in kept.splitlines()] == [1, 3, 4, 5, 6]
