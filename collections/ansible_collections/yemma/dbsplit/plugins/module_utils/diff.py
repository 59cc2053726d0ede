"""Which rows differ: the keys of the rows a target lacks, holds in excess, or holds changed.

The proof (fingerprint.py) says whether a table differs; this says where, reading each side
twice and never holding a table in memory:

1. Buckets: each side's server sums its rows into buckets by a hash of the row's key (count
   and two 64-bit hash sums of the row's text per bucket, like the proof), streamed in bucket
   order and merged here: only the numbers of the buckets that differ are kept. About
   ROWS_PER_BUCKET rows fall in a bucket, so a few differing rows leave almost every bucket
   equal.
2. Rows: each side streams the key and the row's hash of the rows in those buckets only,
   ordered by key (byte order, so two servers of different collations agree), through a
   server-side cursor; the merge counts every missing, extra and changed row exactly and keeps
   the first ``sample`` keys of each kind.

A row's key is its primary key, else a unique index on NOT NULL columns (rows are then named
by it, as PostgreSQL's own messages do: ``(id)=(42)``). A table without either is compared as a
multiset of rows: a changed row is one missing and one extra, each named by its ctid on the
side that holds it (``source ctid (0,5)``), since its other columns may hold personal data and
are never shown. Both passes of a side run in one transaction (the caller's exported snapshot,
or a repeatable read one), so they see the same rows.
"""

import itertools
import math
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.yemma.dbsplit.plugins.module_utils import pgconn

ROWS_PER_BUCKET = 32
MIN_BUCKETS, MAX_BUCKETS = 1 << 10, 1 << 20
FETCH_ROWS = 10000  # rows per round trip of a server-side cursor
HASH_SEEDS = (7919, 104729)  # the proof's (fingerprint.TABLE_FINGERPRINT_SQL)

# The key of a relation: its primary key, else its narrowest unique index on NOT NULL columns
# (no expression, no predicate).
KEY_SQL = """
SELECT array_agg(a.attname::text ORDER BY k.position)
FROM pg_index AS i
CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, position)
LEFT JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND a.attnum > 0
WHERE i.indrelid = %s::regclass AND i.indisunique AND i.indisvalid AND i.indpred IS NULL
  AND k.position <= i.indnkeyatts
GROUP BY i.indexrelid, i.indisprimary
HAVING bool_and(coalesce(a.attnotnull, false))
ORDER BY i.indisprimary DESC, count(*), i.indexrelid
LIMIT 1
"""

# Each row as (key text, row text); OFFSET 0 keeps the subquery apart (each text built once).
ROWS_SQL = "SELECT {key} AS k, t::text AS r, t.ctid AS locator FROM ONLY {table} AS t OFFSET 0"

BUCKETS_SQL = """
SELECT b, count(*), sum(h1)::text, sum(h2)::text
FROM (SELECT hashtextextended(k, 0) & {mask} AS b, hashtextextended(r, {seed1}) AS h1,
             hashtextextended(r, {seed2}) AS h2
      FROM ({rows}) AS keyed) AS hashed
GROUP BY b ORDER BY b
"""

# The bitmap of differing buckets is one parameter: a bit test per row, whatever their number.
# Keyed rows come as (key, row hash); keyless ones grouped by content as (content hash, how
# many, the first ctids), so a table of a million equal rows is one line, not a million.
DIFFERING_ROWS_SQL = """
SELECT k, {columns}
FROM ({rows}) AS keyed
WHERE get_bit(%(bitmap)s::bytea, (hashtextextended(k, 0) & {mask})::int) = 1
{group}ORDER BY k COLLATE "C"
"""
KEYED_COLUMNS = "hashtextextended(r, {seed})"
KEYLESS_COLUMNS = "count(*), (array_agg(locator::text))[1:%(sample)s]"


def relation_key(conn, qname):
    """The key's column names, or None (no primary key, no unique index on NOT NULL columns)."""
    row = conn.execute(KEY_SQL, (qname,)).fetchone()
    return row[0] if row else None


def bucket_count(rows):
    """Buckets for a table of ``rows``: a power of two, about ROWS_PER_BUCKET rows each."""
    wanted = max(1, rows) / ROWS_PER_BUCKET
    return min(MAX_BUCKETS, max(MIN_BUCKETS, 1 << math.ceil(math.log2(max(wanted, 1)))))


def rows_sql(qname, key):
    """Each row's key text: its key's columns as a row literal, or, without a key, the row's
    own hashes (equal rows then pair up by content)."""
    if key:
        key_text = "ROW(" + ", ".join("t." + pgconn.quote_ident(column) for column in key) + ")::text"
    else:
        key_text = (f"hashtextextended(t::text, {HASH_SEEDS[0]})::text || ':' || "
                    f"hashtextextended(t::text, {HASH_SEEDS[1]})::text")
    return ROWS_SQL.format(key=key_text, table=qname)


def bucket_sums(conn, qname, key, buckets):
    """Stream (bucket, count, sum1, sum2) of one side, in bucket order."""
    sql = BUCKETS_SQL.format(mask=buckets - 1, seed1=HASH_SEEDS[0], seed2=HASH_SEEDS[1], rows=rows_sql(qname, key))
    with conn.cursor(name="dbsplit_diff_buckets") as cur:
        cur.itersize = FETCH_ROWS
        cur.execute(sql)
        yield from cur


def differing_buckets(source, target):
    """The numbers of the buckets whose figures differ, from two bucket-ordered streams."""
    differing = []
    for bucket, sides in merge_by(source, target, key=lambda row: row[0]):
        src, dst = sides
        if [row[1:] for row in src] != [row[1:] for row in dst]:
            differing.append(bucket)
    return differing


def bitmap(buckets, count):
    """get_bit's bitmap of ``buckets`` among ``count`` (bit n is bit n % 8 of byte n // 8)."""
    bits = bytearray((count + 7) // 8)
    for bucket in buckets:
        bits[bucket // 8] |= 1 << (bucket % 8)
    return bytes(bits)


def differing_rows(conn, qname, key, buckets, selected, sample):
    """Stream one side's rows of the ``selected`` buckets, by key (DIFFERING_ROWS_SQL)."""
    sql = DIFFERING_ROWS_SQL.format(columns=KEYED_COLUMNS.format(seed=HASH_SEEDS[0]) if key else KEYLESS_COLUMNS,
                                    group="" if key else "GROUP BY k ", mask=buckets - 1, rows=rows_sql(qname, key))
    with conn.cursor(name="dbsplit_diff_rows") as cur:
        cur.itersize = FETCH_ROWS
        cur.execute(sql, {"bitmap": bitmap(selected, buckets), "sample": sample})
        yield from cur


def started(left, right):
    """Both streams with their servers at work at once: an aggregate's or a sort's first row
    comes only after its whole input, so each side's first row is fetched in a thread of its
    own (the two sides' scans run side by side, not one after the other)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        firsts = list(pool.map(lambda stream: next(stream, None), (left, right)))
    return [itertools.chain([first], stream) if first is not None else iter(())
            for first, stream in zip(firsts, (left, right))]


def merge_by(left, right, key):
    """Merge two streams sorted by ``key`` into (key, ([left rows], [right rows])) groups.
    Keys compare as Python strings or numbers: code point order, which is UTF-8's byte order
    (COLLATE "C")."""
    left, right = iter(left), iter(right)
    a, b = next(left, None), next(right, None)
    while a is not None or b is not None:
        current = min(key(row) for row in (a, b) if row is not None)
        group = ([], [])
        while a is not None and key(a) == current:
            group[0].append(a)
            a = next(left, None)
        while b is not None and key(b) == current:
            group[1].append(b)
            b = next(right, None)
        yield current, group


class Differences:
    """Exact counts of missing, extra and different rows, with the first ``sample`` names of each.
    ``remember``: also keep every name, up to that many (what a re-check reads again); ``only``:
    count only the rows of these names (a re-check: the rows seen differing before)."""

    KINDS = ("missing", "extra", "different")

    def __init__(self, sample, remember=0, only=None):
        self.sample, self.remember, self.only = sample, remember, only
        self.counts = dict.fromkeys(self.KINDS, 0)
        self.keys = {kind: [] for kind in self.KINDS}
        self.every = []

    def add(self, kind, name=None):
        """Count one row of ``kind``; keep its ``name`` while fewer than ``sample`` are kept."""
        if self.only is not None and name not in self.only:
            return
        self.counts[kind] += 1
        if name is not None and len(self.keys[kind]) < self.sample:
            self.keys[kind].append(name)
        if name is not None and len(self.every) < self.remember:
            self.every.append(name)

    def result(self, key, buckets, selected):
        """The result the proof reports; ``recheck`` (for a re-check) holds the differing buckets
        and every name when all were remembered, else None (too many to read again)."""
        complete = self.remember and sum(self.counts.values()) == len(self.every)
        return {"key": key, "buckets": buckets, "differing_buckets": len(selected),
                "counts": self.counts, "keys": self.keys,
                "recheck": {"buckets": list(selected), "names": self.every} if complete else None}


def compare_rows(source_rows, target_rows, key, found):
    """Merge two key-ordered streams of differing_rows into ``found`` (Differences)."""
    for key_text, (src, dst) in merge_by(source_rows, target_rows, key=lambda row: row[0]):
        if key:
            name = "(" + ", ".join(key) + ")=" + key_text
            equal = sum((Counter(row[1] for row in src) & Counter(row[1] for row in dst)).values())
            src_left, dst_left = len(src) - equal, len(dst) - equal  # more than one only if a unique index is gone
            for kind, number in (("different", min(src_left, dst_left)), ("missing", src_left - dst_left),
                                 ("extra", dst_left - src_left)):
                for _ in range(max(0, number)):
                    found.add(kind, name)
        else:
            (_, src_count, src_ctids), = src or [(None, 0, [])]
            (_, dst_count, dst_ctids), = dst or [(None, 0, [])]
            _add_copies(found, "missing", "source", src_ctids, src_count - dst_count)
            _add_copies(found, "extra", "target", dst_ctids, dst_count - src_count)
    return found


def _add_copies(found, kind, side, ctids, surplus):
    """``surplus`` copies of one row that ``side`` holds in excess, named by the ctids the server
    sent (at most ``sample``: the others are counted, not named)."""
    for number in range(max(0, surplus)):
        found.add(kind, f"{side} ctid {ctids[number]}" if number < len(ctids) else None)


def localise(source, target, qname, rows, sample, remember=0):
    """Which rows of ``qname`` differ between two connections, each already in the transaction
    (or snapshot) to read; ``rows``: the larger side's row count (sizes the buckets). Returns
    {key, buckets, differing_buckets, counts: {missing, extra, different}, keys: {same kinds:
    the first ``sample`` names}, recheck: see Differences.result, with ``remember``}."""
    key = relation_key(source, qname)
    buckets = bucket_count(rows)
    selected = differing_buckets(*started(bucket_sums(source, qname, key, buckets),
                                          bucket_sums(target, qname, key, buckets)))
    found = Differences(sample, remember)
    if selected:
        compare_rows(*started(differing_rows(source, qname, key, buckets, selected, max(sample, remember)),
                              differing_rows(target, qname, key, buckets, selected, max(sample, remember))), key, found)
    return found.result(key, buckets, selected)


def recheck(source, target, qname, earlier, sample):
    """Read again, at a later instant, only the rows ``earlier`` (a localise result with its
    recheck) found differing: those that differ still, counted and named as localise does (a
    row written while a stream carried it differs at one instant and agrees at the next)."""
    again = earlier["recheck"]
    found = Differences(sample, only=set(again["names"]))
    count = max(sample, len(again["names"]))
    compare_rows(*started(differing_rows(source, qname, earlier["key"], earlier["buckets"], again["buckets"], count),
                          differing_rows(target, qname, earlier["key"], earlier["buckets"], again["buckets"], count)),
                 earlier["key"], found)
    result = found.result(earlier["key"], earlier["buckets"], again["buckets"])
    result["settled"] = sum(earlier["counts"].values()) - sum(result["counts"].values())
    return result


def summary(result):
    """One line: the counts, then the first keys of each kind."""
    counts, keys = result["counts"], result["keys"]
    parts = [f"{counts[kind]} {kind}" for kind in Differences.KINDS if counts[kind]]
    named = [f"{kind}: {', '.join(keys[kind])}" + (" ..." if counts[kind] > len(keys[kind]) else "")
             for kind in Differences.KINDS if keys[kind]]
    by = "key (" + ", ".join(result["key"]) + ")" if result["key"] else "whole rows (no key)"
    return f"rows by {by}: " + ", ".join(parts or ["no row differs"]) + ("; " + "; ".join(named) if named else "")
