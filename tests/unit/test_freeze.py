from ansible_collections.yemma.dbsplit.plugins.module_utils import freeze


def test_an_unchanged_signature_has_no_change():
    signature = {"public.users": [10, 2, 0, 16401], "public.orders": [5, 0, 0, 16410]}
    assert freeze.signature_changes(signature, dict(signature)) == []


def test_each_kind_of_write_is_named_with_its_table():
    before = {"public.users": [10, 2, 0, 16401], "public.orders": [5, 0, 0, 16410], "public.gone": [0, 0, 0, 1]}
    after = {"public.users": [11, 2, 1, 16401], "public.orders": [5, 0, 0, 16999], "public.new": [0, 0, 0, 2]}
    assert freeze.signature_changes(before, after) == [
        "public.gone: dropped",
        "public.new: created",
        "public.orders: rewritten (TRUNCATE, VACUUM FULL, CLUSTER)",
        "public.users: inserted 10 -> 11, deleted 0 -> 1",
    ]


def test_a_role_that_turns_read_only_off_is_named_with_the_command_that_fixes_it():
    problems = freeze.override_problems([("batch", False), ("Report er", True)], "yemma_db")
    assert problems[0].startswith("role batch turns default_transaction_read_only off for itself (in every database)")
    assert "ALTER ROLE \"batch\" RESET default_transaction_read_only" in problems[0]
    assert "ALTER ROLE \"Report er\" IN DATABASE \"yemma_db\" RESET default_transaction_read_only" in problems[1]
