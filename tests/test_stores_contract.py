"""The point store contract: one suite, run on every store (MongoDB when MONGODB_URI is set).

Expected results come from independent oracles on the same data: shapely's `covers` on single
points for planar data, spherely (S2) for spherical data; never from the code under test.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest
import shapely
import spherely

from points.geometry import parse_area
from points.ndjson import decode_lines
from points.rules import GeometryKind
from points.stores.base import DatasetNotFound, Loaded, PointBatch, PointStore, StoreError
from tests.conftest import grid_batches, random_batches


def records(chunks: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for chunk in chunks:
        lines = decode_lines(chunk.data)
        assert len(lines) == chunk.count
        out.extend(lines)
    return out


def ids_within(store: PointStore, name: str, geojson: dict[str, Any], kind: str = "planar") -> list[Any]:
    area = parse_area(geojson, kind=kind)  # type: ignore[arg-type]
    got = [r["id"] for r in records(store.iter_within(name, area))]
    assert len(got) == len(set(got)), "a point was sent twice"
    # Every case counts what it streams.
    assert store.count_points(name, area) == len(got)
    return sorted(got)


def planar_oracle(
    batches: list[PointBatch],
    shells: Sequence[Sequence[Sequence[float]]],
    holes: Sequence[Sequence[Sequence[float]]] = (),
) -> list[int]:
    keep = []
    for b in batches:
        for i, x, y in zip(np.asarray(b.ids).tolist(), b.xs.tolist(), b.ys.tolist(), strict=True):
            p = shapely.Point(x, y)
            inside = any(shapely.Polygon(s).covers(p) for s in shells)
            if inside and not any(shapely.Polygon(h).covers(p) for h in holes):
                keep.append(i)
    return sorted(keep)


SQUARE = {"type": "Polygon", "coordinates": [[[10, 10], [20, 10], [20, 20], [10, 20], [10, 10]]]}


@pytest.fixture
def grid(store: PointStore) -> str:
    assert store.load("grid", grid_batches(batch=700), geometry=GeometryKind.PLANAR) == Loaded(2500, (0, 0, 49, 49))
    return "grid"


def test_load_in_batches_counts_and_bounds(store: PointStore, grid: str) -> None:
    assert store.exists(grid)
    assert store.count(grid) == 2500
    assert store.bounds(grid) == (0.0, 0.0, 49.0, 49.0)


def test_stream_all_sends_every_point_once_with_its_position(store: PointStore, grid: str) -> None:
    got = records(store.iter_all(grid, batch_size=300))
    assert sorted(r["id"] for r in got) == list(range(2500))
    for r in got:
        assert r["pt"] == [r["id"] // 50, r["id"] % 50]
        assert set(r) == {"id", "pt"}


def test_within_square_includes_the_boundary(store: PointStore, grid: str) -> None:
    expected = sorted(x * 50 + y for x in range(10, 21) for y in range(10, 21))
    assert len(expected) == 121
    assert ids_within(store, grid, SQUARE) == expected


def test_within_polygon_with_hole_excludes_the_hole_and_its_ring(store: PointStore, grid: str) -> None:
    shell = [[5, 5], [30, 5], [30, 30], [5, 30], [5, 5]]
    hole = [[10, 10], [20, 10], [20, 20], [10, 20], [10, 10]]
    got = ids_within(store, grid, {"type": "Polygon", "coordinates": [shell, hole]})
    assert got == planar_oracle(grid_batches(), [shell], [hole])
    assert len(got) == 26 * 26 - 11 * 11
    assert 15 * 50 + 15 not in got and 10 * 50 + 10 not in got and 5 * 50 + 5 in got


def test_within_multipolygon_counts_overlaps_once(store: PointStore, grid: str) -> None:
    a = [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]
    b = [[5, 5], [15, 5], [15, 15], [5, 15], [5, 5]]
    c = [[30, 30], [40, 30], [35, 40], [30, 30]]
    got = ids_within(store, grid, {"type": "MultiPolygon", "coordinates": [[a], [b], [c]]})
    assert got == planar_oracle(grid_batches(), [a, b, c])


def test_within_nothing_yields_no_points(store: PointStore, grid: str) -> None:
    far = {"type": "Polygon", "coordinates": [[[100, 100], [200, 100], [200, 200], [100, 100]]]}
    assert ids_within(store, grid, far) == []
    gap = {"type": "Polygon", "coordinates": [[[10.2, 10.2], [10.8, 10.2], [10.8, 10.8], [10.2, 10.2]]]}
    assert ids_within(store, grid, gap) == []


def test_within_random_polygon_matches_shapely(store: PointStore) -> None:
    batches = random_batches(30_000, (0, 0, 1000, 1000), seed=4)
    store.load("rnd", batches, geometry="planar")
    rng = np.random.default_rng(9)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 40))
    radii = rng.uniform(150, 400, 40)
    shell = np.column_stack([500 + radii * np.cos(angles), 500 + radii * np.sin(angles)]).tolist()
    shell.append(shell[0])
    got = ids_within(store, "rnd", {"type": "Polygon", "coordinates": [shell]})
    assert got == planar_oracle(batches, [shell])
    assert 3000 < len(got) < 27_000


def test_properties_and_string_ids_round_trip(store: PointStore) -> None:
    batch = PointBatch(
        ids=["a", "b", "c"],
        xs=np.array([1.0, 2.0, 3.5]),
        ys=np.array([1.0, 2.0, -3.25]),
        properties=[{"name": "first", "v": 1}, {"name": 'quote " and \n newline', "v": None}, {"tags": ["x", "y"]}],
    )
    store.load("props", [batch], geometry="planar")
    got = sorted(records(store.iter_all("props")), key=lambda r: r["id"])
    assert got == [
        {"id": "a", "pt": [1.0, 1.0], "name": "first", "v": 1},
        {"id": "b", "pt": [2.0, 2.0], "name": 'quote " and \n newline', "v": None},
        {"id": "c", "pt": [3.5, -3.25], "tags": ["x", "y"]},
    ]


def server_cursors(store: PointStore) -> int | None:
    """Return the cursors open on the MongoDB server, or None for stores without a server."""
    db = getattr(store, "db", None)
    if db is None:
        return None
    return int(db.command("serverStatus")["metrics"]["cursor"]["open"]["total"])


def test_early_close_releases_the_cursor(store: PointStore) -> None:
    store.load("many", random_batches(20_000, (0, 0, 10, 10), seed=1), geometry="planar")
    before = store.open_cursors
    on_server = server_cursors(store)
    chunks = store.iter_all("many", batch_size=10)
    taken = 0
    for chunk in chunks:
        taken += chunk.count
        assert store.open_cursors == before + 1
        if taken >= 10:
            break
    chunks.close()
    assert store.open_cursors == before
    assert server_cursors(store) == on_server
    assert taken < 20_000
    # The store is still fully usable afterwards.
    assert sum(c.count for c in store.iter_all("many")) == 20_000


def test_drop_removes_everything(store: PointStore, grid: str) -> None:
    store.drop(grid)
    assert not store.exists(grid)
    with pytest.raises(DatasetNotFound):
        store.count(grid)
    with pytest.raises(DatasetNotFound):
        store.iter_all(grid)
    store.drop(grid)  # dropping twice is fine
    store.load(grid, [], geometry="planar")  # and the name can be loaded again
    assert store.count(grid) == 0
    assert records(store.iter_all(grid)) == []


@pytest.mark.parametrize(
    ("name", "geometry", "batch", "message"),
    [
        ("Bad Name", "planar", None, "invalid dataset name 'Bad Name': Use 1 to 63 lowercase"),
        ("grid~0123456789ab", "planar", None, "invalid dataset name 'grid~0123456789ab'"),
        ("ok", "flat", None, "the geometry kind must be 'planar' or 'spherical', not 'flat'"),
        (
            "ok",
            "spherical",
            PointBatch(np.arange(3), np.array([0.0, 181.0, 5.0]), np.array([0.0, 0.0, -91.0])),
            r"spherical data needs longitude in \[-180, 180\] and latitude in \[-90, 90\]; 2 point\(s\) of a "
            r"batch are not, the first at \(181.0, 0.0\)",
        ),
    ],
)
def test_every_store_refuses_what_no_dataset_may_hold(
    store: PointStore, grid: str, name: str, geometry: str, batch: PointBatch | None, message: str
) -> None:
    batches = [batch] if batch is not None else grid_batches()
    with pytest.raises(StoreError, match=message):
        store.load(name, batches, geometry=geometry)
    assert store.names() == [grid] and store.count(grid) == 2500
    # The same points are planar data's to have.
    if batch is not None:
        assert store.load(name, [batch], geometry="planar").count == 3


def test_empty_dataset_has_no_bounds(store: PointStore) -> None:
    assert store.load("empty", [], geometry="planar") == Loaded(0, None)
    assert store.count("empty") == 0
    assert store.bounds("empty") is None


def test_area_of_the_wrong_kind_is_refused(store: PointStore, grid: str) -> None:
    with pytest.raises(StoreError):
        store.iter_within(grid, parse_area(SQUARE, kind=GeometryKind.SPHERICAL))


# --- spherical data: geodesic edges, as MongoDB's 2dsphere index (S2) computes them ---------


@pytest.fixture
def globe(store: PointStore) -> tuple[str, list[PointBatch]]:
    batches = random_batches(40_000, (-180, -90, 180, 90), seed=7, spherical=True)
    store.load("globe", batches, geometry="spherical")
    return "globe", batches


def spherical_oracle(batches: list[PointBatch], rings: list[list[list[float]]]) -> list[int]:
    polygons = [spherely.create_polygon(r[:-1]) for r in rings]
    keep: list[int] = []
    for b in batches:
        pts = spherely.points(b.xs, b.ys)
        inside = np.zeros(len(b.xs), dtype=bool)
        for poly in polygons:
            inside |= spherely.covers(poly, pts)
        keep.extend(np.asarray(b.ids)[inside].tolist())
    return sorted(keep)


@pytest.mark.parametrize(
    "ring",
    [
        # a wide box whose northern edge bulges far north of latitude 50 along the great circle
        [[-60, 40], [60, 40], [60, 50], [-60, 50], [-60, 40]],
        # crossing the antimeridian: lon 170 to -170 is a 20 degree edge, not 340
        [[170, -10], [-170, -10], [-170, 10], [170, 10], [170, -10]],
        # around the north pole
        [[0, 70], [90, 70], [180, 70], [-90, 70], [0, 70]],
        # a thin sliver
        [[10, 0], [40, 1], [40, 2], [10, 0]],
    ],
    ids=["bulging-edge", "antimeridian", "north-pole", "sliver"],
)
def test_spherical_within_follows_geodesic_edges(store: PointStore, globe: Any, ring: list[list[float]]) -> None:
    name, batches = globe
    got = ids_within(store, name, {"type": "Polygon", "coordinates": [ring]}, kind=GeometryKind.SPHERICAL)
    assert got == spherical_oracle(batches, [ring])
    assert got, "the polygon should select some points"


def test_spherical_edges_differ_from_flat_ones(store: PointStore, globe: Any) -> None:
    name, batches = globe
    ring = [[-60, 40], [60, 40], [60, 50], [-60, 50], [-60, 40]]
    got = set(ids_within(store, name, {"type": "Polygon", "coordinates": [ring]}, kind=GeometryKind.SPHERICAL))
    flat = set(planar_oracle(batches, [ring]))
    # Geodesic edges bulge poleward: some points north of latitude 50 are in, some near 40 out.
    assert got - flat and flat - got


def test_spherical_vertex_points_are_inside(store: PointStore) -> None:
    xs = np.array([10.0, 20.0, 20.0, 10.0, 15.0, 25.0])
    ys = np.array([10.0, 10.0, 20.0, 20.0, 15.0, 15.0])
    store.load("corners", [PointBatch(np.arange(6, dtype=np.int64), xs, ys)], geometry="spherical")
    ring = [[10, 10], [20, 10], [20, 20], [10, 20], [10, 10]]
    assert ids_within(store, "corners", {"type": "Polygon", "coordinates": [ring]}, kind=GeometryKind.SPHERICAL) == [
        0,
        1,
        2,
        3,
        4,
    ]


def test_spherical_narrow_band_matches_s2(store: PointStore) -> None:
    """Blocks of a thin latitude band have sides along parallels: the case a traced outline gets wrong."""
    rng = np.random.default_rng(8)
    n = 60_000
    xs, ys = rng.uniform(0, 90, n), rng.uniform(44.9, 45.1, n)
    batches = [PointBatch(np.arange(n, dtype=np.int64), xs, ys)]
    store.load("band", batches, geometry="spherical")
    for lat in (44.92, 44.97, 45.0, 45.05):
        for lon0, lon1 in ((2.0, 40.0), (30.0, 88.0)):
            # South side a short geodesic hop along the parallel; north side far above.
            ring = [[lon0, lat], [lon1, lat], [lon1, lat + 30], [lon0, lat + 30], [lon0, lat]]
            got = ids_within(store, "band", {"type": "Polygon", "coordinates": [ring]}, kind=GeometryKind.SPHERICAL)
            assert got == spherical_oracle(batches, [ring])


def test_a_load_replaces_the_points_in_one_step(store: PointStore, grid: str) -> None:
    new = [PointBatch(np.array([7, 8], dtype=np.int64), np.array([1.0, 2.0]), np.array([3.0, 4.0]))]
    assert store.load(grid, new, geometry="planar") == Loaded(2, (1.0, 3.0, 2.0, 4.0))
    assert store.count(grid) == 2 and store.bounds(grid) == (1.0, 3.0, 2.0, 4.0)
    assert sorted(r["id"] for r in records(store.iter_all(grid))) == [7, 8]
    assert store.names() == [grid]
    # Empty, and of another geometry kind: what the last load says.
    store.load(grid, [], geometry="spherical")
    assert store.count(grid) == 0 and records(store.iter_all(grid)) == []
    with pytest.raises(StoreError, match="is spherical, the area is planar"):
        store.iter_within(grid, parse_area(SQUARE, kind=GeometryKind.PLANAR))


def test_the_publish_guard_runs_right_before_the_publish(store: PointStore, grid: str) -> None:
    seen: list[tuple[Loaded, int, int]] = []

    class Refused(Exception):
        pass

    def guard(refuse: bool) -> Any:
        @contextlib.contextmanager
        def entered(loaded: Loaded) -> Iterator[None]:
            # Every point is written, none published: streams still read the old ones.
            seen.append((loaded, store.count(grid), sum(c.count for c in store.iter_all(grid))))
            if refuse:
                raise Refused("not the owner any more")
            yield
            seen.append((loaded, store.count(grid), sum(c.count for c in store.iter_all(grid))))

        return entered

    batches = random_batches(3000, (100, 100, 200, 200), seed=2)
    with pytest.raises(Refused):
        store.load(grid, batches, geometry="planar", publish_guard=guard(refuse=True))
    assert store.count(grid) == 2500 and sum(c.count for c in store.iter_all(grid)) == 2500
    loaded = store.load(grid, batches, geometry="planar", publish_guard=guard(refuse=False))
    assert loaded.count == 3000
    # Entered with what was loaded, while the old points were served; exited once the new were.
    assert seen == [(loaded, 2500, 2500), (loaded, 2500, 2500), (loaded, 3000, 3000)]
    # A guard failing on the way out (the metadata's commit) leaves the publish done.
    fresh = [PointBatch(np.arange(5), np.zeros(5), np.zeros(5))]

    @contextlib.contextmanager
    def failing_after(loaded: Loaded) -> Iterator[None]:
        yield
        raise Refused("the commit failed")

    with pytest.raises(Refused):
        store.load("fresh", fresh, geometry="planar", publish_guard=failing_after)
    assert store.count("fresh") == 5 and sum(c.count for c in store.iter_all("fresh")) == 5


def test_a_new_dataset_is_not_there_until_its_load_publishes(store: PointStore) -> None:
    def entered(loaded: Loaded) -> Any:
        with pytest.raises(DatasetNotFound):
            store.iter_all("fresh")
        with pytest.raises(DatasetNotFound):
            store.count("fresh")
        assert not store.exists("fresh")
        return contextlib.nullcontext()

    store.load("fresh", grid_batches(), geometry="planar", publish_guard=entered)
    assert store.exists("fresh") and store.count("fresh") == 2500


def test_a_stream_open_across_a_replacement_reads_its_own_version_to_the_end(store: PointStore, grid: str) -> None:
    chunks = store.iter_all(grid, batch_size=100)
    first = next(chunks)
    store.load(grid, random_batches(3000, (100, 100, 200, 200), seed=2), geometry="planar")
    rest = records(chunks)
    old = [r["id"] for r in decode_lines(first.data)] + [r["id"] for r in rest]
    assert sorted(old) == list(range(2500))  # every point of the old version, once, no error
    assert all(r["pt"] == [r["id"] // 50, r["id"] % 50] for r in rest)
    # A stream opened now reads the new version.
    assert store.count(grid) == 3000 and sum(c.count for c in store.iter_all(grid)) == 3000


def test_a_failed_load_leaves_nothing_and_the_old_points_served(store: PointStore, grid: str) -> None:
    def failing() -> Any:
        yield from grid_batches(batch=500)[:2]
        raise RuntimeError("the source broke")

    with pytest.raises(RuntimeError, match="the source broke"):
        store.load("half", failing(), geometry="planar")
    with pytest.raises(DatasetNotFound):
        store.count("half")
    assert store.names() == [grid]
    with pytest.raises(RuntimeError, match="the source broke"):
        store.load(grid, failing(), geometry="planar")
    assert store.count(grid) == 2500 and sum(c.count for c in store.iter_all(grid)) == 2500
    assert store.load("half", grid_batches(), geometry="planar").count == 2500
    assert store.count("half") == 2500


@pytest.mark.parametrize("coding", ["identity", "zstd", "gzip"])
def test_arrow_chunks_hold_the_stream_points(store: PointStore, grid: str, coding: str) -> None:
    from points import arrow
    from points.batches import Coding, Format, StreamForm
    from points.streams import decode

    form = StreamForm(Format.ARROW, Coding(coding))
    schema = store.schema(grid).arrow(dataset=grid, geometry="planar")
    rows: list[tuple[int, float, float]] = []
    for chunk in store.iter_within(grid, parse_area(SQUARE, kind=GeometryKind.PLANAR), form=form):
        # Compressed as asked where the store keeps its points so, else plain: never another coding.
        assert chunk.coding in (Coding.IDENTITY, form.coding)
        batches = arrow.read_batches(decode(chunk), schema)
        assert sum(b.num_rows for b in batches) == chunk.count
        rows += [r for b in batches for r in zip(*(b.column(i).to_pylist() for i in range(3)), strict=True)]
    expected = sorted(
        (r["id"], *r["pt"]) for r in records(store.iter_within(grid, parse_area(SQUARE, kind=GeometryKind.PLANAR)))
    )
    assert sorted(rows) == expected and len(rows) == 121


def test_the_schema_is_recorded_at_import(store: PointStore) -> None:
    from points.schema import ColumnType

    store.load(
        "typed",
        [PointBatch(["a", 2], np.zeros(2), np.zeros(2), [{"n": 1, "s": "x"}, {"n": 2.5, "s": None, "j": [1]}])],
        geometry="planar",
    )
    schema = store.schema("typed")
    assert schema.id == ColumnType.UTF8
    assert schema.properties == {"n": ColumnType.FLOAT64, "s": ColumnType.UTF8, "j": ColumnType.JSON}
    # The properties' statistics are kept with the types.
    assert schema.describe() == [
        {"name": "n", "type": "float64", "values": 2, "min": 1, "max": 2.5},
        {"name": "s", "type": "utf8", "values": 1, "top": [{"value": "x", "count": 1}], "distinct": 1},
        {"name": "j", "type": "json", "values": 1},
    ]


# --- counts and overviews ------------------------------------------------------------------


def test_count_of_the_whole_dataset_is_its_count(store: PointStore, grid: str) -> None:
    assert store.count_points(grid, None) == 2500


def test_many_part_multipolygon_and_star_match_shapely(store: PointStore) -> None:
    """Shapes whose cost used to grow with their parts and edges: exact answers, counted alike."""
    from bench import shapes

    batches = random_batches(60_000, (0, 0, 1000, 1000), seed=12)
    store.load("shapes", batches, geometry="planar")
    xs = np.concatenate([b.xs for b in batches])
    ys = np.concatenate([b.ys for b in batches])
    ids = np.concatenate([np.asarray(b.ids) for b in batches])
    for shape in ("star", "squares", "walk"):
        doc = shapes.planar(shape)
        geometry = shapely.geometry.shape(doc)
        expected = sorted(ids[shapely.intersects_xy(geometry, xs, ys)].tolist())
        assert ids_within(store, "shapes", doc) == expected, shape
        assert 5_000 < len(expected) < 20_000


@pytest.mark.parametrize(
    "bbox", [None, (0.0, 0.0, 1000.0, 1000.0), (120.5, 300.25, 610.0, 777.75), (-50.0, -50.0, 20.0, 20.0)]
)
@pytest.mark.parametrize(("width", "height"), [(1, 1), (7, 3), (256, 128)])
def test_overview_matches_numpy_histogram2d(
    store: PointStore, bbox: tuple[float, float, float, float] | None, width: int, height: int
) -> None:
    from points.overview import parse_grid

    batches = random_batches(50_000, (0, 0, 1000, 1000), seed=5)
    store.load("dense", batches, geometry="planar")
    xs = np.concatenate([b.xs for b in batches])
    ys = np.concatenate([b.ys for b in batches])
    text = None if bbox is None else ",".join(map(str, bbox))
    grid = parse_grid(str(width), str(height), text, store.bounds("dense"))
    x_edges, y_edges = grid.edges()
    expected, _, _ = np.histogram2d(ys, xs, bins=[y_edges, x_edges])
    counts = store.overview("dense", grid)
    assert counts.shape == (height, width)
    assert (counts == expected).all()
    min_x, min_y, max_x, max_y = grid.bbox
    inside = (xs >= min_x) & (xs <= max_x) & (ys >= min_y) & (ys <= max_y)
    assert counts.sum() == inside.sum()


def test_overview_counts_points_on_edges_as_histogram2d(store: PointStore, grid: str) -> None:
    """The grid's points sit on the cells' edges: left and bottom edges are in, the last ones closed."""
    from points.overview import Grid

    for cells in (1, 7, 49, 50, 98):
        grid_cells = Grid((0.0, 0.0, 49.0, 49.0), cells, cells)
        x_edges, y_edges = grid_cells.edges()
        xs = np.repeat(np.arange(50.0), 50)
        ys = np.tile(np.arange(50.0), 50)
        expected, _, _ = np.histogram2d(ys, xs, bins=[y_edges, x_edges])
        assert (store.overview(grid, grid_cells) == expected).all(), cells
    part = Grid((10.0, 10.0, 20.0, 20.0), 10, 5)
    counts = store.overview(grid, part)
    assert counts.sum() == 121 and counts[-1, -1] == 2 * 3


def test_overview_of_an_empty_dataset_is_zeros(store: PointStore) -> None:
    from points.overview import Grid

    store.load("empty", [], geometry="planar")
    assert not store.overview("empty", Grid((0.0, 0.0, 1.0, 1.0), 4, 2)).any()
