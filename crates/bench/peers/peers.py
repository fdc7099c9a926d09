#!/usr/bin/env python3
"""roster's query mix on DuckDB and chDB (ClickHouse embedded), on the same generated data.

roster-bench writes the data (`--write-peers-data FILE`, or its `peers` phase does it) and
the mix as JSON: a list of {"name", "query": roster's AudienceQuery, "expect": roster's
count}. This script compiles each query's selector to each peer's SQL (one compiler per
layout, so the queries are the same by construction), loads the data into every peer,
runs each query `--iters` times, checks every count against `expect` (exit 1 on any
mismatch: that is the proof the queries are the same) and writes p50/p99 per query and
engine to `--out` as JSON.

Peers and their layouts (each the fastest found for it; see docs/benchmarks.md, "Peers"):
  duckdb       `devices` sorted by (phone_type, brand, province, city) with integer codes,
               brand an ENUM, the app version an integer version-order key; tags in
               `device_tags(tag, ordinal)` sorted by tag, a tag leaf a semi-join on it.
  chdb         MergeTree with the same columns (tags Array(UInt16): has / arrayExists),
               ORDER BY (phone_type, brand, province, city), index_granularity 1024.
  chdb-bitmap  ClickHouse's own bitmaps: one groupBitmap (roaring) per tag, brand, phone
               type, province, city, region, app version and flag, in a table of
               bitmaps (ENGINE = Memory; --bitmap-table mergetree for a MergeTree
               ordered by (kind, key) at index_granularity 1); a query reads the
               bitmaps it names in one pass and does bitmapAnd/bitmapOr/bitmapAndnot,
               then bitmapCardinality.

Usage: python peers.py --data devices.csv --queries queries.json --iters 50 --out out.json
"""

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time

VERSION_RE = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})$")
TAG_RE = re.compile(r"^t(\d{1,5})$")
PHONE_TYPES = {"android": 1, "ios": 2}
OPS = {"eq": "=", "ne": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


class Unsupported(Exception):
    """A selector this benchmark's data has no column for."""


def version_key(v):
    """An integer in version order for `M.m.p` (the generated versions' form)."""
    m = VERSION_RE.match(v)
    if not m:
        raise Unsupported(f"version {v!r} is not M.m.p")
    a, b, c = (int(x) for x in m.groups())
    return a * 1_000_000 + b * 1_000 + c


def tag_id(name):
    """The generated tags are `t<N>`: N is the tag's id in both integer layouts."""
    m = TAG_RE.match(name)
    if not m:
        raise Unsupported(f"tag {name!r} is not t<N>")
    return int(m.group(1))


def sql_str(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "''") + "'"


def region_leaf(code):
    """(column, literal) for an 8-digit region code: province, city or exact."""
    if not re.fullmatch(r"\d{8}", code):
        raise Unsupported(f"region {code!r}")
    if code.endswith("000000"):
        return "province", str(int(code[:2]))
    if code.endswith("0000"):
        return "city", str(int(code[:4]))
    return "region", sql_str(code)


# --- row-wise SQL (DuckDB and chDB MergeTree) ----------------------------------------


class RowSql:
    """Compiles a selector to a WHERE predicate over the `devices` table. Every column is
    non-null (sentinels: province/city 0, region '', version key -1), so NOT is exact."""

    def __init__(self, has, has_any, has_all, brand):
        self.has, self.has_any, self.has_all, self.brand = has, has_any, has_all, brand

    def pred(self, s):
        (kind, v), = s.items()
        if kind == "all":
            return "TRUE" if v else "FALSE"
        if kind in ("and", "or"):
            if not v:
                return "TRUE" if kind == "and" else "FALSE"
            tags = [x["tag"] for x in v if "tag" in x]
            rest = [self.pred(x) for x in v if "tag" not in x]
            if len(tags) == 1:
                rest.insert(0, self.has(tag_id(tags[0])))
            elif tags:
                ids = ", ".join(str(tag_id(t)) for t in tags)
                rest.insert(0, (self.has_all if kind == "and" else self.has_any)(ids))
            return "(" + f" {kind.upper()} ".join(rest) + ")"
        if kind == "not":
            return f"(NOT {self.pred(v)})"
        if kind == "phone_type":
            return f"phone_type = {PHONE_TYPES[v]}"
        if kind == "region":
            col, lit = region_leaf(v)
            return f"{col} = {lit}"
        if kind == "tag":
            return self.has(tag_id(v))
        if kind == "brand":
            return self.brand(v)
        if kind == "property":
            if v["name"] != "app_version" or v["op"] not in OPS:
                raise Unsupported(f"property {v}")
            return f"(vkey >= 0 AND vkey {OPS[v['op']]} {version_key(v['value'])})"
        raise Unsupported(kind)

    def count(self, q):
        where = [self.pred(q["selector"])]
        if q.get("exclude_blacklisted"):
            where.append("blacklisted = 0")
        if q.get("exclude_notification_off"):
            where.append("notification_switch = 1")
        return "SELECT count(*) FROM devices WHERE " + " AND ".join(where)


# --- bitmap expressions (chDB with groupBitmap) --------------------------------------


class BitmapSql:
    """Compiles a selector to a bitmap expression over the bitmaps it names, all read in
    one pass over the `bitmaps` table (groupBitmapMergeStateIf per name; an OR of leaves
    of one kind is one name over their rows); a NOT inside an AND is bitmapAndnot."""

    def __init__(self, versions):
        self.versions = versions  # distinct app versions in the data
        self.fetch = {}  # (kind, keys) -> alias

    def named(self, kind, keys):
        k = (kind, tuple(sorted(keys)))
        if k not in self.fetch:
            self.fetch[k] = f"b{len(self.fetch)}"
        return self.fetch[k]

    def leaf(self, s):
        """(kind, key) of a leaf, or None when it is no single stored bitmap."""
        (kind, v), = s.items()
        if kind == "phone_type":
            return "phone_type", v
        if kind == "region":
            col, _ = region_leaf(v)
            return col, {"province": v[:2], "city": v[:4], "region": v}[col]
        if kind == "tag":
            return "tag", v
        if kind == "brand":
            return "brand", v
        return None

    def expr(self, s):
        (kind, v), = s.items()
        if kind == "all":
            return self.named("all", [""]) if v else "bitmapBuild(emptyArrayUInt32())"
        if kind == "or":
            if not v:
                return "bitmapBuild(emptyArrayUInt32())"
            leaves = [self.leaf(x) for x in v]
            kinds = {l[0] for l in leaves if l}
            if all(leaves) and len(kinds) == 1:
                return self.named(kinds.pop(), [l[1] for l in leaves])
            parts = [self.expr(x) for x in v]
            out = parts[0]
            for p in parts[1:]:
                out = f"bitmapOr({out}, {p})"
            return out
        if kind == "and":
            pos = [x for x in v if "not" not in x]
            neg = [x["not"] for x in v if "not" in x]
            out = None if pos else self.named("all", [""])
            for x in pos:
                e = self.expr(x)
                out = e if out is None else f"bitmapAnd({out}, {e})"
            if neg:
                out = f"bitmapAndnot({out}, {self.expr({'or': neg})})"
            return out
        if kind == "not":
            return f"bitmapAndnot({self.named('all', [''])}, {self.expr(v)})"
        if kind == "property":
            if v["name"] != "app_version" or v["op"] not in OPS:
                raise Unsupported(f"property {v}")
            want = version_key(v["value"])
            op = {"eq": "__eq__", "ne": "__ne__", "lt": "__lt__", "lte": "__le__",
                  "gt": "__gt__", "gte": "__ge__"}[v["op"]]
            keys = [x for x in self.versions if getattr(version_key(x), op)(want)]
            return self.named("version", keys) if keys else "bitmapBuild(emptyArrayUInt32())"
        leaf = self.leaf(s)
        if leaf is None:
            raise Unsupported(kind)
        return self.named(leaf[0], [leaf[1]])

    def count(self, q):
        self.fetch = {}
        e = self.expr(q["selector"])
        if q.get("exclude_blacklisted"):
            e = f"bitmapAndnot({e}, {self.named('flag', ['blacklisted'])})"
        if q.get("exclude_notification_off"):
            e = f"bitmapAndnot({e}, {self.named('flag', ['notification_off'])})"
        aggs, conds = [], []
        for (kind, keys), alias in self.fetch.items():
            if len(keys) == 1:
                cond = f"kind = {sql_str(kind)} AND key = {sql_str(keys[0])}"
            else:
                cond = f"kind = {sql_str(kind)} AND key IN ({', '.join(map(sql_str, keys))})"
            aggs.append(f"groupBitmapMergeStateIf(b, {cond}) AS {alias}")
            conds.append(f"({cond})")
        if not aggs:
            return f"SELECT bitmapCardinality({e})"
        return (f"SELECT bitmapCardinality({e}) FROM (SELECT {', '.join(aggs)} "
                f"FROM bitmaps WHERE {' OR '.join(conds)})")


# --- engines --------------------------------------------------------------------------


def csv_columns(ch):
    names = ["ordinal", "phone_type", "brand", "province", "city", "region", "tags",
             "has_alias", "notification_switch", "blacklisted", "app_version"]
    if ch:
        return ", ".join(f"{n} String" for n in names)
    return "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in names) + "}"


class DuckDb:
    name = "duckdb"
    layout = ("devices sorted by (phone_type, brand, province, city), brand ENUM, integer "
              "province/city/version key; tags in device_tags(tag, ordinal) sorted by tag, "
              "a tag leaf a semi-join (ordinal IN (SELECT ... WHERE tag = ...)), an OR of "
              "tags one semi-join with tag IN (...)")

    def __init__(self, data, work):
        import duckdb

        self.version = "duckdb " + duckdb.__version__
        self.con = duckdb.connect(os.path.join(work, "duck.db"))
        self.con.execute(f"""
            CREATE TEMP VIEW raw AS SELECT * FROM read_csv({sql_str(data)}, header = true,
                columns = {csv_columns(False)}, all_varchar = true, null_padding = false,
                nullstr = '\\N', quote = '"')""")
        brands = [r[0] for r in self.con.execute("SELECT DISTINCT brand FROM raw ORDER BY 1").fetchall()]
        self.con.execute(f"CREATE TYPE brand_t AS ENUM ({', '.join(map(sql_str, brands))})")
        self.con.execute("""
            CREATE TABLE devices AS SELECT
                ordinal::UINTEGER AS ordinal,
                CASE phone_type WHEN 'android' THEN 1 ELSE 2 END::UTINYINT AS phone_type,
                brand::brand_t AS brand,
                coalesce(nullif(province, '')::USMALLINT, 0) AS province,
                coalesce(nullif(city, '')::USMALLINT, 0) AS city,
                coalesce(region, '') AS region,
                has_alias::UTINYINT AS has_alias,
                notification_switch::UTINYINT AS notification_switch,
                blacklisted::UTINYINT AS blacklisted,
                CASE WHEN coalesce(app_version, '') = '' THEN -1 ELSE
                  (string_split(app_version, '.')[1]::INTEGER * 1000000
                   + string_split(app_version, '.')[2]::INTEGER * 1000
                   + string_split(app_version, '.')[3]::INTEGER) END AS vkey
            FROM raw ORDER BY phone_type, brand, province, city""")
        self.con.execute("""
            CREATE TABLE device_tags AS
            SELECT t[2:]::USMALLINT AS tag, ordinal::UINTEGER AS ordinal
            FROM (SELECT ordinal, unnest(string_split(tags, '|')) AS t FROM raw
                  WHERE coalesce(tags, '') != '')
            ORDER BY tag, ordinal""")
        self.con.execute("CHECKPOINT")
        tagged = "ordinal IN (SELECT ordinal FROM device_tags WHERE tag {})"
        self.sql = RowSql(
            has=lambda t: tagged.format(f"= {t}"),
            has_any=lambda ids: tagged.format(f"IN ({ids})"),
            has_all=lambda ids: " AND ".join(tagged.format(f"= {t}") for t in ids.split(", ")),
            brand=lambda b: f"brand = {sql_str(b)}" if b in brands else "FALSE",
        )

    def compile(self, q):
        return self.sql.count(q)

    def run(self, sql):
        return self.con.execute(sql).fetchone()[0]

    def close(self):
        self.con.close()


class ChdbBase:
    def __init__(self, work):
        from chdb import session

        self.sess = session.Session(os.path.join(work, self.name))
        self.version = "chdb " + self.run("SELECT version()", raw=True)

    def q(self, sql):
        return self.sess.query(sql, "TabSeparated")

    def run(self, sql, raw=False):
        out = str(self.q(sql)).strip()
        return out if raw else int(out)

    def close(self):
        self.sess.close()


RAW_CH = """SELECT
    toUInt32(ordinal) AS ordinal,
    if(phone_type = 'android', 1, 2) AS phone_type,
    brand,
    toUInt16OrZero(province) AS province,
    toUInt16OrZero(city) AS city,
    region,
    arrayMap(x -> toUInt16(substring(x, 2)), arrayFilter(x -> x != '', splitByChar('|', tags)))
        AS tags,
    toUInt8(has_alias) AS has_alias,
    toUInt8(notification_switch) AS notification_switch,
    toUInt8(blacklisted) AS blacklisted,
    app_version,
    if(app_version = '', -1, toInt32OrZero(splitByChar('.', app_version)[1]) * 1000000
        + toInt32OrZero(splitByChar('.', app_version)[2]) * 1000
        + toInt32OrZero(splitByChar('.', app_version)[3])) AS vkey
FROM file({path}, 'CSVWithNames', '{cols}')
SETTINGS input_format_csv_empty_as_default = 1"""


class Chdb(ChdbBase):
    name = "chdb"
    layout = ("MergeTree ORDER BY (phone_type, brand, province, city), index_granularity "
              "{g}; tags Array(UInt16) of tag ids, a tag leaf has(tags, id), an OR of tags arrayExists(x -> x IN (...), tags); brand "
              "LowCardinality(String); integer version key")

    def __init__(self, data, work, granularity):
        super().__init__(work)
        self.layout = self.layout.format(g=granularity)
        self.q("CREATE DATABASE IF NOT EXISTS bench ENGINE = Atomic")
        self.q("USE bench")
        self.q(f"""CREATE TABLE devices (
            ordinal UInt32, phone_type UInt8, brand LowCardinality(String), province UInt16,
            city UInt16, region String, tags Array(UInt16), has_alias UInt8,
            notification_switch UInt8, blacklisted UInt8, vkey Int32)
            ENGINE = MergeTree ORDER BY (phone_type, brand, province, city)
            SETTINGS index_granularity = {granularity}""")
        raw = RAW_CH.format(path=sql_str(data), cols=csv_columns(True))
        self.q(f"INSERT INTO devices SELECT * EXCEPT app_version FROM ({raw})")
        self.q("OPTIMIZE TABLE devices FINAL")
        self.sql = RowSql(
            has=lambda t: f"has(tags, {t})",
            has_any=lambda ids: f"arrayExists(x -> x IN ({ids}), tags)",
            has_all=lambda ids: " AND ".join(f"has(tags, {t})" for t in ids.split(", ")),
            brand=lambda b: f"brand = {sql_str(b)}",
        )

    def compile(self, q):
        return self.sql.count(q).replace("TRUE", "1").replace("FALSE", "0")


class ChdbBitmap(ChdbBase):
    name = "chdb-bitmap"
    layout = ("groupBitmap per tag/brand/phone type/province/city/region/app version/flag "
              "in a table of bitmaps, ENGINE = {engine}; the bitmaps a query names read in "
              "one pass, bitmapAnd/bitmapOr/bitmapAndnot + bitmapCardinality")

    def __init__(self, data, work, table, granularity):
        super().__init__(work)
        engine = {
            "memory": "Memory",
            "mergetree": f"MergeTree ORDER BY (kind, key) SETTINGS index_granularity = {granularity}",
        }[table]
        self.layout = self.layout.format(engine=engine)
        self.q("CREATE DATABASE IF NOT EXISTS bench ENGINE = Atomic")
        self.q("USE bench")
        raw = RAW_CH.format(path=sql_str(data), cols=csv_columns(True))
        self.q(f"CREATE TABLE raw ENGINE = MergeTree ORDER BY ordinal AS {raw}")
        self.q(f"""CREATE TABLE bitmaps (
            kind LowCardinality(String), key String,
            b AggregateFunction(groupBitmap, UInt32))
            ENGINE = {engine}""")
        dims = [
            ("all", "''"),
            ("phone_type", "if(phone_type = 1, 'android', 'ios')"),
            ("brand", "brand"),
            ("province", "substring(region, 1, 2)"),
            ("city", "substring(region, 1, 4)"),
            ("region", "region"),
            ("version", "app_version"),
        ]
        for kind, key in dims:
            where = {"province": "region != ''", "city": "region != ''",
                     "region": "region != ''", "version": "app_version != ''"}.get(kind, "1")
            self.q(f"""INSERT INTO bitmaps SELECT '{kind}', {key}, groupBitmapState(ordinal)
                FROM raw WHERE {where} GROUP BY 2""")
        self.q("""INSERT INTO bitmaps SELECT 'tag', concat('t', toString(tag)),
            groupBitmapState(ordinal) FROM raw ARRAY JOIN tags AS tag GROUP BY 2""")
        self.q("""INSERT INTO bitmaps SELECT 'flag', 'blacklisted', groupBitmapState(ordinal)
            FROM raw WHERE blacklisted = 1""")
        self.q("""INSERT INTO bitmaps SELECT 'flag', 'notification_off',
            groupBitmapState(ordinal) FROM raw WHERE notification_switch = 0""")
        if table == "mergetree":
            self.q("OPTIMIZE TABLE bitmaps FINAL")
        versions = str(self.q("SELECT DISTINCT app_version FROM raw WHERE app_version != ''"))
        self.q("DROP TABLE raw")
        self.sql = BitmapSql([v for v in versions.split("\n") if v])

    def compile(self, q):
        return self.sql.count(q)


# --- measuring ------------------------------------------------------------------------


def pct(sorted_ms, p):
    """The same percentile as roster-bench's: the sample at round((n - 1) * p)."""
    i = round((len(sorted_ms) - 1) * p)
    return sorted_ms[min(i, len(sorted_ms) - 1)]


def measure(engine, queries, iters):
    out, bad = [], []
    for q in queries:
        sql = engine.compile(q["query"])
        count = engine.run(sql)  # warm-up, and the count checked
        if "expect" in q and count != q["expect"]:
            bad.append(f"{engine.name}: {q['name']}: counted {count}, expected {q['expect']}\n  {sql}")
        samples = []
        for _ in range(max(iters, 1)):
            t = time.perf_counter()
            engine.run(sql)
            samples.append((time.perf_counter() - t) * 1e3)
        samples.sort()
        out.append({"name": q["name"], "count": count, "p50_ms": pct(samples, 0.5),
                    "p99_ms": pct(samples, 0.99), "sql": sql})
        print(f"  {engine.name:<12} {q['name']:<34} {count:>10} p50 {out[-1]['p50_ms']:8.3f} ms"
              f"  p99 {out[-1]['p99_ms']:8.3f} ms", file=sys.stderr)
    return out, bad


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="CSV written by roster-bench")
    ap.add_argument("--queries", required=True, help="the mix as JSON, from roster-bench")
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--out", help="write the results here as JSON (default: stdout)")
    ap.add_argument("--engines", default="duckdb,chdb,chdb-bitmap")
    ap.add_argument("--granularity", type=int, default=1024,
                    help="index_granularity of chdb's device table")
    ap.add_argument("--bitmap-table", choices=["memory", "mergetree"], default="memory",
                    help="engine of chdb-bitmap's table of bitmaps (Memory keeps them "
                         "deserialised)")
    ap.add_argument("--bitmap-granularity", type=int, default=1,
                    help="index_granularity of chdb-bitmap's table when a MergeTree")
    ap.add_argument("--work", help="where the peers keep their databases (default: temporary)")
    args = ap.parse_args()

    with open(args.queries) as f:
        queries = json.load(f)
    data = os.path.abspath(args.data)
    work = args.work or tempfile.mkdtemp(prefix="roster-peers-")
    makers = {
        "duckdb": lambda: DuckDb(data, work),
        "chdb": lambda: Chdb(data, work, args.granularity),
        "chdb-bitmap": lambda: ChdbBitmap(data, work, args.bitmap_table, args.bitmap_granularity),
    }
    report, mismatches = {"iters": args.iters, "engines": {}}, []
    try:
        for name in args.engines.split(","):
            t = time.perf_counter()
            engine = makers[name]()
            load = time.perf_counter() - t
            print(f"{name}: {engine.version}, loaded in {load:.1f} s", file=sys.stderr)
            results, bad = measure(engine, queries, args.iters)
            engine.close()
            mismatches += bad
            # Without roster's counts, the first engine's are the ones to agree with.
            for q, r in zip(queries, results):
                q.setdefault("expect", r["count"])
            report["engines"][name] = {"version": engine.version, "layout": engine.layout,
                                       "load_s": load, "queries": results}
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(report, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    else:
        print(text)
    if mismatches:
        print("count mismatch (the peer's query is not roster's):\n" + "\n".join(mismatches),
              file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
