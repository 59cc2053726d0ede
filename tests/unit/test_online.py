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


def test_the_progress_line_gives_tables_bytes_and_the_lag_or_names_a_table_not_synchronized():
    done = dict(PROGRESS, copied=2, bytes_done=1000 << 20, tables=[dict(t, state="r") for t in PROGRESS["tables"]])
    assert online.progress_line("candidate_db", done, {"lag_bytes": 2048, "lag_seconds": 0.4}) == \
        "candidate_db: 2/2 tables copied, 1000.0 MB of 1000.0 MB; streaming, lag 2.0 kB, 0.4 s"
    # A table the subscription copies itself (a REFRESH PUBLICATION by hand) is named.
    assert online.progress_line("candidate_db", PROGRESS, {}) == (
        "candidate_db: 1/2 tables copied, 700.0 MB of 1000.0 MB; not synchronized yet: public.profiles 250,000 of "
        "~1,000,000 rows")


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


def test_the_restore_list_splits_what_the_rows_go_into_from_what_is_built_over_them():
    """Post-data (indexes, constraints, triggers) and what depends on it (their comments) come
    after the copy; the tables, their types and sequences before."""
    entries = [toc.Entry(1, 1259, 100, "TABLE", "public", "users", "", (), 2),
               toc.Entry(2, 1259, 101, "SEQUENCE", "public", "users_id_seq", "", (), 2),
               toc.Entry(3, 0, 101, "SEQUENCE SET", "public", "users_id_seq", "", (2,), 3),
               toc.Entry(4, 2606, 300, "CONSTRAINT", "public", "users users_pkey", "", (1,), 4),
               toc.Entry(5, 1259, 301, "INDEX", "public", "ix_users_email", "", (1,), 4),
               toc.Entry(6, 0, 0, "COMMENT", "public", "INDEX ix_users_email", "", (5,), 1),
               toc.Entry(7, 0, 0, "COMMENT", "public", "TABLE users", "", (1,), 1),
               toc.Entry(8, 2620, 302, "TRIGGER", "public", "users audit", "", (1,), 4)]
    listing = "".join(toc._line(e) + "\n" for e in entries)
    (before, before_count), (after, after_count) = toc.split_after_rows(listing, entries)
    assert [int(line.split(";")[0]) for line in before.splitlines()] == [1, 2, 3, 7] and before_count == 4
    assert [int(line.split(";")[0]) for line in after.splitlines()] == [4, 5, 6, 8] and after_count == 4


def test_the_stop_run_alongside_the_switch_is_waited_for_and_its_failure_said(tmp_path):
    assert online.Alongside(["true"], str(tmp_path)).wait(10) is None
    failed = online.Alongside(["sh", "-c", "echo no such service: auth >&2; exit 3"], str(tmp_path)).wait(10)
    assert "exited with 3" in failed and "no such service: auth" in failed
    stuck = online.Alongside(["sleep", "30"], str(tmp_path))
    assert "did not end within 0.2 s (killed)" in stuck.wait(0.2) and stuck.process.returncode is not None


def test_the_switch_times_each_step_in_order():
    clock = online.Stopwatch()
    clock.lap("freeze")
    clock.lap("switch")
    assert list(clock.laps) == ["freeze", "switch"] and all(seconds >= 0 for seconds in clock.laps.values())
