#!/usr/bin/env python
"""The MongoDB rows of `make bench` (issue 13): only when MONGODB_URI names a server.

No MongoDB can be installed on the development machines, so these rows were never measured
there; anyone with a server gets them with `MONGODB_URI=mongodb://host:27017 make bench`.
Without MONGODB_URI this prints one line saying so, and bench/run.py writes a placeholder.

On a database of its own (`pointsite_bench_<hex>` on the URI's server, dropped at the end), side
by side with the embedded store in a scratch folder, on the same points (bench/run.py's planar
demo points: `random_points(n, 0..1000², seed 1)`, 5M, or 500k with --quick), through the store
API in this process (no HTTP), medians over the runs, the two stores' runs interleaved:

* import: `store.load` from the generator (generation included, as in
  `manage.py generate_points`), points/s, and the bytes a point takes in the store;
* the full stream and bench/run.py's 20% polygon stream, NDJSON and Arrow (`iter_all`,
  `iter_within`): bytes of the chunks, first chunk, total; both stores' answers checked equal;
* `explain` (verbosity executionStats) of every query the MongoDB store sends for two 1,000-vertex
  polygons (bench/run.py's 20% circle, bench/shapes.py's star), against the unsimplified
  1,000-vertex `$polygon`, with what the exact test (points.geometry) keeps of each answer.

`.venv/bin/python bench/mongo.py [--quick] [--runs N]` prints the tables alone.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import shapes  # noqa: E402
from points import arrow  # noqa: E402
from points.batches import Format, PointBatch, StreamForm  # noqa: E402
from points.generators import random_points  # noqa: E402
from points.geometry import Area, parse_area  # noqa: E402
from points.rules import GeometryKind  # noqa: E402
from points.stores.base import PointStore  # noqa: E402
from points.stores.mongo.queries import Query, keep, within_queries  # noqa: E402

if TYPE_CHECKING:
    from pymongo.collection import Collection

    from points.stores.mongo import MongoStore

HEADING = "## MongoDB store beside the embedded store (bench/mongo.py)"
NOT_MEASURED = (
    "Not measured: these rows appear only when `MONGODB_URI` names a server "
    "(`MONGODB_URI=mongodb://host:27017 make bench`). They were never measured on the development "
    "machines: no MongoDB can be installed there."
)
SKIPPED = "bench/mongo.py: MongoDB rows skipped: MONGODB_URI is not set (no MongoDB server to measure)"
BOUNDS = (0.0, 0.0, 1000.0, 1000.0)  # bench/run.py's planar demo points: generate_points --random N
SEED = 1  # --bounds 0,0,1000,1000 --seed 1
FORMS = {"ndjson": StreamForm(), "arrow": StreamForm(Format.ARROW)}
STATS = ("executionTimeMillis", "totalKeysExamined", "totalDocsExamined", "nReturned")


def bench_url(uri: str, database: str) -> str:
    """Return `uri` naming `database` instead of the one it names, its options kept.

    A user authenticates in the URI's database unless `authSource` says otherwise (a
    mongodb+srv TXT record may), else in admin: a URI with credentials gets the authSource that
    was in effect written out (pymongo's parser resolves the TXT record), so it still works."""
    from pymongo.uri_parser import parse_uri

    parts = urlsplit(uri)
    query = parts.query
    parsed = parse_uri(uri)
    if parsed["username"] and "authsource" not in {key.lower() for key, _ in parse_qsl(query)}:
        source = parsed["options"].get("authSource") or parsed["database"] or "admin"
        query = "&".join(filter(None, [query, urlencode({"authSource": source})]))
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", query, parts.fragment))


def demo_points(n: int) -> Iterator[PointBatch]:
    """Return bench/run.py's planar demo points (what `generate_points --random n` makes there)."""
    return random_points(n, BOUNDS, seed=SEED)


@dataclass
class Read:
    """One stream read to its end through the store API."""

    first: float  # seconds to the first chunk
    total: float
    points: int
    size: int  # bytes of the chunks (no HTTP, no Arrow schema message, no end line or marker)


def read(store: PointStore, name: str, area: Area | None, form: StreamForm) -> Read:
    """Read the dataset's stream (all of it, or `area`'s) to the end, counting its points and bytes."""
    started = time.perf_counter()
    chunks = store.iter_all(name, form=form) if area is None else store.iter_within(name, area, form=form)
    first, points, size = 0.0, 0, 0
    try:
        for chunk in chunks:
            if not points:
                first = time.perf_counter() - started
            points += chunk.count
            size += len(chunk.data)
    finally:
        chunks.close()
    return Read(first, time.perf_counter() - started, points, size)


def arrow_ids(store: PointStore, name: str, area: Area | None) -> np.ndarray:
    """Return the ids of the stream's points, sorted (read as Arrow, untimed)."""
    schema = store.schema(name).arrow(dataset=name, geometry=GeometryKind.PLANAR)
    chunks = (
        store.iter_all(name, form=FORMS["arrow"])
        if area is None
        else store.iter_within(name, area, form=FORMS["arrow"])
    )
    parts = []
    try:
        for chunk in chunks:
            parts += [batch.column(0).to_numpy() for batch in arrow.read_batches(chunk.data, schema)]
    finally:
        chunks.close()
    return np.sort(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int64)


@dataclass
class Explained:
    """executionStats of one query, summed over the shards that ran it."""

    millis: int
    keys: int
    docs: int
    returned: int
    shards: int  # 0: not a sharded collection
    plan: str
    failure: str  # the server's errorMessage when the run failed part way (the counts are partial)


def _stages(plan: dict[str, Any]) -> str:
    """Return a winning plan's stages, root first, e.g. `FETCH < IXSCAN`."""
    plan = plan.get("queryPlan", plan)  # the slot-based engine (explainVersion 2) nests the tree
    names = []
    node: dict[str, Any] | None = plan
    while node:
        inputs = node.get("inputStages") or []
        names.append(str(node.get("stage", "?")) + (f"[{len(inputs)}]" if len(inputs) > 1 else ""))
        node = node.get("inputStage") or (inputs[0] if inputs else None)
    return " < ".join(names)


def parse_explain(doc: dict[str, Any]) -> Explained:
    """Read executionStats from an explain answer, of a mongod or of a mongos.

    A mongod puts the figures in `executionStats`. A mongos puts the totals there too, and each
    shard's under `executionStats.executionStages.shards` (a list); older ones sent a `shards`
    document (shard name → that shard's explain) instead. Where the totals are missing they are
    summed over the shards (the time: the slowest shard's)."""
    stats = doc.get("executionStats") or {}
    shard_stats = list((stats.get("executionStages") or {}).get("shards") or [])
    if not shard_stats and isinstance(doc.get("shards"), dict):
        shard_stats = [s.get("executionStats") or {} for s in doc["shards"].values()]
    if all(key in stats for key in STATS):
        totals = {key: int(stats[key]) for key in STATS}
    elif shard_stats and all(key in s for s in shard_stats for key in STATS):
        totals = {key: sum(int(s[key]) for s in shard_stats) for key in STATS}
        totals["executionTimeMillis"] = max(int(s["executionTimeMillis"]) for s in shard_stats)
    else:
        raise RuntimeError(f"the explain answer has no executionStats bench/mongo.py can read: {sorted(doc)}")
    failures = [s.get("errorMessage") for s in (stats, *shard_stats) if s.get("executionSuccess") is False]
    winning = (doc.get("queryPlanner") or {}).get("winningPlan") or {}
    planned = winning.get("shards")
    if isinstance(planned, list) and planned:  # a mongos: SHARD_MERGE or SINGLE_SHARD over each shard's plan
        plan = f"{winning.get('stage', '?')}: {_stages(planned[0].get('winningPlan') or {})}"
    elif isinstance(doc.get("shards"), dict) and doc["shards"]:
        first = next(iter(doc["shards"].values()))
        plan = _stages((first.get("queryPlanner") or {}).get("winningPlan") or {})
    else:
        plan = _stages(winning)
    return Explained(
        totals["executionTimeMillis"],
        totals["totalKeysExamined"],
        totals["totalDocsExamined"],
        totals["nReturned"],
        len(shard_stats),
        plan,
        "; ".join(str(f) for f in failures if f),
    )


def positions(query: Any) -> int:
    """Return how many positions a query document sends (`$polygon` lists and `$geometry` rings)."""
    if isinstance(query, list):
        return sum(positions(value) for value in query)
    if not isinstance(query, dict):
        return 0
    total = 0
    for key, value in query.items():
        if key == "$polygon":
            total += len(value)
        elif key == "$geometry":
            polygons = value["coordinates"] if value["type"] == "MultiPolygon" else [value["coordinates"]]
            total += sum(len(ring) for polygon in polygons for ring in polygon)
        else:
            total += positions(value)
    return total


def explain(collection: Collection[dict[str, Any]], query: dict[str, Any], limit_s: float | None) -> dict[str, Any]:
    """Run `find(query, {"_id": 0})` under explain, verbosity executionStats (Cursor.explain()
    asks for allPlansExecution), with the store's time limit (pymongo sends it as maxTimeMS)."""
    import pymongo

    find = {"find": collection.name, "filter": query, "projection": {"_id": 0}}
    with pymongo.timeout(limit_s):
        return collection.database.command("explain", find, verbosity="executionStats")


def kept(collection: Collection[dict[str, Any]], query: Query, area: Area, limit_s: float | None) -> int:
    """Return how many of the query's documents the store's exact test (points.geometry) keeps."""
    import bson
    import pymongo

    from points.stores.mongo.values import CODEC_OPTIONS

    count = 0
    with pymongo.timeout(limit_s):
        for raw in collection.find_raw_batches(query.filter, {"_id": 0}, batch_size=10_000):
            # Each item is a batch of raw BSON documents (pymongo's stubs type it as a document).
            count += len(keep(bson.decode_all(cast(bytes, raw), CODEC_OPTIONS), area, query))
    return count


def median(values: list[float]) -> float:
    return statistics.median(values)


def open_mongo(uri: str) -> tuple[MongoStore, str]:
    """Return a MongoStore on a database of its own on the URI's server, and that database's name.

    The store is built as the app builds it (its POINTS_MONGO_* settings from the environment)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pointsite.settings")
    from points.stores.mongo import MongoStore

    database = f"pointsite_bench_{uuid.uuid4().hex[:12]}"
    return MongoStore.from_url(bench_url(uri, database)), database


def server_line(store: MongoStore) -> str:
    """Say which server and topology the rows were measured on."""
    hello = store.client.admin.command("hello")
    if hello.get("msg") == "isdbgrid":
        topology = "a sharded cluster (through mongos)"
    elif hello.get("setName"):
        topology = f"replica set {hello['setName']}"
    else:
        topology = "a standalone server"
    return f"MongoDB {store.client.server_info()['version']}, {topology}"


def measure(uri: str, n: int, runs: int, polygon: dict[str, Any], say: Callable[[str], None]) -> None:
    """Say the MongoDB section: import, streams and explain figures, beside the embedded store."""
    from django.conf import settings

    from points.stores.embedded.store import EmbeddedStore

    mongo, database = open_mongo(uri)
    try:
        server = server_line(mongo)  # the first request: nothing is made before the server answers
    except BaseException:
        mongo.close()
        raise
    work = Path(tempfile.mkdtemp(prefix="pointsite-bench-mongo-"))
    embedded = EmbeddedStore(work / "points.sqlite3")
    stores: dict[str, PointStore] = {"MongoDB": mongo, "embedded": embedded}
    limit_ms = int(settings.POINTS_MONGO_MAX_TIME_MS)
    limit_s = limit_ms / 1000 if limit_ms else None
    try:
        say(HEADING)
        say("")
        say(
            f"{server}, at `MONGODB_URI` (database `{database}`, dropped afterwards). Both stores "
            f"through the store API in this process (no HTTP), on the same {n:,} points (bench/run.py's planar "
            f"demo points); medians of {runs} runs unless noted, the two stores' runs interleaved. "
            "POINTS_MONGO_* settings as in the environment."
        )
        say("")

        # --- import ------------------------------------------------------------------------
        say("| import: `load` from the generator | points | s | points/s | store B/point |")
        say("|---|---:|---:|---:|---:|")
        import_runs = 3 if n <= 500_000 else 1
        seconds: dict[str, list[float]] = {label: [] for label in stores}
        for i in range(import_runs):
            for label, store in stores.items():
                name = f"bench-{i}"
                started = time.perf_counter()
                inserted = store.load(name, demo_points(n), geometry=GeometryKind.PLANAR).count
                seconds[label].append(time.perf_counter() - started)
                if inserted != n:
                    raise RuntimeError(f"{label}: inserted {inserted:,} points of {n:,}")
        for label, store in stores.items():
            size = store.size("bench-0")
            per_point = f"{size / n:.1f}" if size is not None else "-"
            t = median(seconds[label])
            say(
                f"| {label} ({import_runs} run{'s' if import_runs > 1 else ''}) | {n:,} | {t:.2f} | {n / t:,.0f} | {per_point} |"
            )
            for i in range(1, import_runs):
                store.drop(f"bench-{i}")
        say("")

        # --- streams -----------------------------------------------------------------------
        area = parse_area(polygon, kind=GeometryKind.PLANAR)
        requests: dict[str, Area | None] = {"all": None, "20% polygon (bench/run.py's, 1,000 vertices)": area}
        say("| stream | format | store | points | B/point | first chunk ms | s | points/s | ÷ embedded |")
        say("|---|---|---|---:|---:|---:|---:|---:|---:|")
        for what, where in requests.items():
            expected = {label: arrow_ids(store, "bench-0", where) for label, store in stores.items()}
            if not np.array_equal(expected["MongoDB"], expected["embedded"]):
                raise RuntimeError(
                    f"{what}: MongoDB streams {len(expected['MongoDB']):,} points, the embedded store "
                    f"{len(expected['embedded']):,}, or other ids"
                )
            for fmt, form in FORMS.items():
                reads: dict[str, list[Read]] = {label: [] for label in stores}
                for _ in range(runs):
                    for label, store in stores.items():
                        reads[label].append(read(store, "bench-0", where, form))
                totals = {label: median([r.total for r in rs]) for label, rs in reads.items()}
                for label, rs in reads.items():
                    points = len(expected[label])
                    if any(r.points != points for r in rs):
                        raise RuntimeError(f"{what}, {fmt}, {label}: a run streamed other than {points:,} points")
                    t = totals[label]
                    say(
                        f"| {what} | {fmt} | {label} | {points:,} | {median([r.size for r in rs]) / points:.1f} | "
                        f"{median([r.first for r in rs]) * 1000:.1f} | {t:.3f} | {points / t:,.0f} | "
                        f"{t / totals['embedded']:.2f}x |"
                    )
        say("")

        # --- explain -----------------------------------------------------------------------
        collection = mongo._collection_of(mongo._meta("bench-0"))
        say(
            "`explain` (verbosity executionStats) of each query the store sends for the polygon, and of the "
            "unsimplified 1,000-vertex `$polygon` on the same 2d index; server ms: medians of "
            f"{runs} runs; kept: what the exact test (points.geometry) keeps of the documents each returns; "
            f"time limit {limit_ms:,} ms (POINTS_MONGO_MAX_TIME_MS). On a sharded cluster the counts are summed "
            "over the shards, the time is the slowest shard's."
        )
        say("")
        say("| polygon | query | positions | plan | server ms | keys examined | docs examined | returned | kept |")
        say("|---|---|---:|---|---:|---:|---:|---:|---:|")
        for label, doc in (("20% circle", polygon), ("star", shapes.planar("star"))):
            shape = parse_area(doc, kind=GeometryKind.PLANAR)
            exact = {name: store.count_points("bench-0", shape) for name, store in stores.items()}
            if exact["MongoDB"] != exact["embedded"]:
                raise RuntimeError(
                    f"{label}: MongoDB counts {exact['MongoDB']:,}, the embedded store {exact['embedded']:,}"
                )
            ring = [[float(x), float(y)] for x, y in doc["coordinates"][0]]
            plan = within_queries(shape)
            rows = [(f"store's, {i + 1} of {len(plan)}", q) for i, q in enumerate(plan)]
            unsimplified = Query({"pt": {"$geoWithin": {"$polygon": ring[:-1]}}}, None, None)
            rows.append(("unsimplified `$polygon`", unsimplified))
            counts = []
            for what, query in rows:
                cells, count = explain_row(collection, query, shape, runs, limit_s)
                say(f"| {label} | {what} | {positions(query.filter):,} | {cells} |")
                counts.append(count)
            # The plan's queries, each kept by its exact test, give the exact answer between them.
            if None not in counts[:-1] and sum(c or 0 for c in counts[:-1]) != exact["MongoDB"]:
                raise RuntimeError(f"{label}: the store's queries keep {counts[:-1]}, the exact count is {exact}")
            say(f"| {label} | exact count (both stores) | | | | | | | {exact['MongoDB']:,} |")
        say("")
    finally:
        embedded.close()
        shutil.rmtree(work, ignore_errors=True)
        try:
            mongo.client.drop_database(database)
        finally:
            mongo.close()


def explain_row(
    collection: Collection[dict[str, Any]], query: Query, area: Area, runs: int, limit_s: float | None
) -> tuple[str, int | None]:
    """Return the cells of a query's explain row (plan, server ms, keys, docs, returned, kept),
    and how many documents the exact test kept (None: the query ran out of time)."""
    from pymongo.errors import PyMongoError

    try:
        explained = [parse_explain(explain(collection, query.filter, limit_s)) for _ in range(runs)]
        count = kept(collection, query, area, limit_s)
    except PyMongoError as exc:
        if not exc.timeout:
            raise
        return f"- | over the time limit ({exc.__class__.__name__}) | - | - | - | -", None
    last = explained[-1]
    millis = f"{median([e.millis for e in explained]):,.0f}"
    if last.failure:
        millis += f" (failed: {last.failure[:80]})"
    plan = last.plan + (f", {last.shards} shards" if last.shards else "")
    return f"{plan} | {millis} | {last.keys:,} | {last.docs:,} | {last.returned:,} | {count:,}", count


def section(quick: bool, runs: int, polygon: dict[str, Any], say: Callable[[str], None]) -> None:
    """bench/run.py's MongoDB section: the figures when MONGODB_URI is set, else a placeholder."""
    uri = os.environ.get("MONGODB_URI", "").strip()
    if not uri:
        say(HEADING)
        say("")
        say(NOT_MEASURED)
        say("")
        return
    measure(uri, 500_000 if quick else 5_000_000, runs, polygon, say)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs per stream and explain figure (median)")
    parser.add_argument("--quick", action="store_true", help="500k points instead of 5M, 2 runs")
    args = parser.parse_args()
    uri = os.environ.get("MONGODB_URI", "").strip()
    if not uri:
        print(SKIPPED)
        return
    # bench/run.py's 20% polygon (imported here, not at the top: bench/run.py imports this module).
    from bench.run import POLYGON

    measure(uri, 500_000 if args.quick else 5_000_000, 2 if args.quick else args.runs, json.loads(POLYGON), print)


if __name__ == "__main__":
    main()
