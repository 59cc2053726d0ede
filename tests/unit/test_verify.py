"""The proof's pure part: which tables differ, and what a rollback after a failed online proof
excuses (case 1 of issue 26). The scans run on real servers in tests/e2e."""

from ansible_collections.yemma.dbsplit.plugins.module_utils import verify

PLAN = {"key": "payment", "label": "payment_db", "objects": {
    "1": {"class": "pg_class", "kind": "r", "identity": "public.payments"},
    "2": {"class": "pg_class", "kind": "r", "identity": "public.invoices"},
    "3": {"class": "pg_class", "kind": "S", "identity": "public.invoice_number_seq"},
}}


def figures(rows, checksum):
    return {"rows": rows, "checksum": checksum, "bytes": 8192, "seconds": 0.1}


def test_a_table_differs_by_its_rows_or_by_its_content():
    tables, differences = verify.table_differences(PLAN, {
        "public.payments": (figures(10, "a"), figures(9, "b")),
        "public.invoices": (figures(5, "c"), figures(5, "d")),
    })
    assert differences == ["public.invoices: same row count (5) but different content",
                           "public.payments: 10 rows in the source, 9 in the target"]
    assert verify.differing_tables({"payment": tables}) == [
        {"target": "payment", "table": "public.invoices"}, {"target": "payment", "table": "public.payments"}]


def test_the_rollback_after_a_failed_online_proof_excuses_what_that_proof_found_and_nothing_else():
    # The online proof found public.payments different: the rollback goes back because of it, so
    # its own proof must not refuse on it (the platform would stay down), yet still report it.
    found = verify.differing_tables({"payment": verify.table_differences(PLAN, {
        "public.payments": (figures(10, "a"), figures(9, "b")),
        "public.invoices": (figures(5, "c"), figures(5, "c")),
    })[0]})
    excused = {item["table"] for item in found if item["target"] == "payment"}
    tables, differences = verify.table_differences(PLAN, {
        "public.payments": (figures(10, "a"), figures(9, "b")),
        "public.invoices": (figures(5, "c"), figures(5, "c")),
    }, excused)
    assert differences == []
    assert [t["table"] for t in tables if t["rows"] != t["source_rows"]] == ["public.payments"]
    # Another table that differs on the way back is still a difference: the rollback refuses.
    _tables, differences = verify.table_differences(PLAN, {
        "public.payments": (figures(10, "a"), figures(9, "b")),
        "public.invoices": (figures(5, "c"), figures(4, "e")),
    }, excused)
    assert differences == ["public.invoices: 5 rows in the source, 4 in the target"]
