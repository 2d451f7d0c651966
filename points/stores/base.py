"""The PointStore contract every backend implements, and the errors it raises."""

from __future__ import annotations

import abc
import contextlib
import re
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np

from points import arrow
from points.batches import Bounds, Chunk, Format, IntArray, PointBatch, StreamForm
from points.geometry import Area
from points.overview import Grid, accumulate
from points.rules import LON_LAT_RANGE, NAME_PATTERN, NAME_RULE, GeometryKind, outside_lon_lat
from points.schema import PointSchema

# The errors live in a leaf module (each carries its HTTP status); imported from here as well.
from points.stores.errors import DatasetExists as DatasetExists
from points.stores.errors import DatasetNotFound as DatasetNotFound
from points.stores.errors import StoreDamaged as StoreDamaged
from points.stores.errors import StoreError as StoreError
from points.stores.errors import StoreFull as StoreFull
from points.stores.errors import StoreMisconfigured as StoreMisconfigured
from points.stores.errors import StoreUnavailable as StoreUnavailable

PLAIN_NDJSON = StreamForm()
PLAIN_ARROW = StreamForm(Format.ARROW)
ATTACH_NEEDS_MONGO = "attaching an existing collection needs the MongoDB store (POINTS_STORE_URL=mongodb://…)"


@dataclass(frozen=True, slots=True)
class PointStream:
    """A stream's points as a store reads them: their schema and their chunks, of one version."""

    schema: PointSchema
    chunks: Generator[Chunk, None, None]
    #: how many points that version holds (what X-Dataset-Count says), when the store knows
    count: int | None = None


@dataclass(frozen=True, slots=True)
class Loaded:
    """What a load wrote: the new version's number of points and their bounds (None: no points)."""

    count: int
    bounds: Bounds | None


#: what `PointStore.load` enters around its publishing write (see there)
PublishGuard = Callable[[Loaded], AbstractContextManager[object]]


def _unguarded(loaded: Loaded) -> AbstractContextManager[object]:
    return contextlib.nullcontext()


class PointStore(abc.ABC):
    """Where the points of every dataset live; one instance is shared by a process.

    Points are written by one operation, `load`: it writes them as a new version of the dataset
    and publishes that version atomically in place of the dataset's points (creating the dataset
    if it has none). Until the publish, streams read the old points (or DatasetNotFound); after
    it, the new. A stream already open on the old version reads on to its end (the embedded store
    unlinks files it holds open; MongoDB retires the old collection and drops it once no cursor
    reads it). A load that fails leaves nothing of its version, and the old points served.

    The publish can be made conditional: `load` enters `publish_guard(loaded)` (a context
    manager) right before its publishing write and runs that write inside it, so

        with publish_guard(loaded):   # may raise: nothing is published
            <the store's one publishing write>
        # the guard's exit sees the publish's exception, if any

    points.datasets uses it to check, in a Django transaction, that the import still owns the
    dataset and to write its metadata there: the store publishes last, inside that transaction
    (a crash between the publish and the commit is put right by points.jobs.reconcile). The
    guard is entered once per load, after every point is written and indexed. A drop while a
    load runs is not a contract of its own: MongoDB refuses the publish (the load's claim went with
    the dataset), the embedded store publishes; the guard is what decides (points.datasets refuses
    when the dataset's row is gone).

    Backends implement `_load`; `load` checks what every store must refuse first (as Django's
    Storage.save calls _save).
    """

    def __init__(self) -> None:
        self._cursors_lock = threading.Lock()
        self._open_cursors = 0

    @property
    def open_cursors(self) -> int:
        """Return how many iterators of this store are open now (a stream that ends or is closed
        gives its cursor back)."""
        return self._open_cursors

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[None]:
        """Count an iterator as open while the block runs (streams run on many threads)."""
        with self._cursors_lock:
            self._open_cursors += 1
        try:
            yield
        finally:
            with self._cursors_lock:
                self._open_cursors -= 1

    def load(
        self,
        dataset: str,
        batches: Iterable[PointBatch],
        *,
        geometry: GeometryKind | str,
        publish_guard: PublishGuard | None = None,
    ) -> Loaded:
        """Write the batches as a new version of `dataset` (of kind `geometry`) and publish it in
        place of its points, creating the dataset if absent; return the version's count and bounds.

        Raise StoreError for a name no dataset may have (points.rules.NAME_PATTERN) or a geometry
        kind that is not one, and, as the batches come, for spherical points outside
        longitude/latitude. See the class docstring for the publish and `publish_guard`."""
        if not isinstance(dataset, str) or not re.fullmatch(NAME_PATTERN, dataset):
            raise StoreError(f"invalid dataset name {dataset!r}: {NAME_RULE}")
        try:
            kind = GeometryKind(geometry)
        except ValueError:
            kinds = " or ".join(repr(str(k)) for k in GeometryKind)
            raise StoreError(f"the geometry kind must be {kinds}, not {geometry!r}") from None
        if kind == GeometryKind.SPHERICAL:
            batches = _in_lon_lat(batches)
        return self._load(dataset, batches, geometry=kind, publish_guard=publish_guard or _unguarded)

    @abc.abstractmethod
    def _load(
        self, dataset: str, batches: Iterable[PointBatch], *, geometry: GeometryKind, publish_guard: PublishGuard
    ) -> Loaded:
        """Do what `load` says, its arguments checked."""

    @abc.abstractmethod
    def drop(self, dataset: str) -> None:
        """Remove the dataset's points and index; do nothing if it does not exist."""

    @abc.abstractmethod
    def names(self) -> list[str]:
        """Return every name the store keeps something under: its datasets, and (MongoDB) the name
        of a dataset whose first load has not published yet; so a sweep or a delete finds it."""

    @abc.abstractmethod
    def count(self, dataset: str) -> int:
        """Return the number of points in the dataset."""

    @abc.abstractmethod
    def bounds(self, dataset: str) -> Bounds | None:
        """Return (min_x, min_y, max_x, max_y) of the points, or None when there are none."""

    @abc.abstractmethod
    def exists(self, dataset: str) -> bool:
        """Return whether the store has published points (maybe none) for `dataset`."""

    @abc.abstractmethod
    def schema(self, dataset: str) -> PointSchema:
        """Return the column types of the dataset's points, as learnt at import."""

    @abc.abstractmethod
    def open_points(
        self, dataset: str, area: Area | None, *, form: StreamForm = PLAIN_NDJSON, batch_size: int = 10_000
    ) -> PointStream:
        """Return the dataset's points (all of them, or those inside `area`: see points.geometry
        for the rule) and their schema, both as of one moment, so a replacement published
        meanwhile cannot give a stream one version's schema and another's points.

        The chunks hold at most about `batch_size` points (a store may send smaller ones, such
        as its blocks), in `form`'s format, compressed as `form`
        asks where the store keeps its points so, else plain (points.batches.Chunk says how to
        tell). Raise DatasetNotFound now if the dataset has no points to read. Closing the
        chunks, even before the first is read, releases the cursor and files at once.
        """

    def iter_all(
        self, dataset: str, *, form: StreamForm = PLAIN_NDJSON, batch_size: int = 10_000
    ) -> Generator[Chunk, None, None]:
        """Return every point of the dataset, in chunks (see open_points)."""
        return self.open_points(dataset, None, form=form, batch_size=batch_size).chunks

    def iter_within(
        self, dataset: str, area: Area, *, form: StreamForm = PLAIN_NDJSON, batch_size: int = 10_000
    ) -> Generator[Chunk, None, None]:
        """Return the points inside `area`, in chunks (see open_points)."""
        return self.open_points(dataset, area, form=form, batch_size=batch_size).chunks

    def count_points(self, dataset: str, area: Area | None) -> int:
        """Return how many points `open_points(dataset, area)` would yield, exactly.

        This default reads every candidate point as a stream would, without sending it; the
        embedded store counts the blocks wholly inside the area from its index."""
        if area is None:
            return self.count(dataset)
        chunks = self.open_points(dataset, area, form=PLAIN_ARROW).chunks
        try:
            return sum(chunk.count for chunk in chunks)
        finally:
            chunks.close()

    def overview(self, dataset: str, grid: Grid) -> IntArray:
        """Return the (height, width) counts of the dataset's points in the grid's cells (see
        points.overview for the rule).

        This default reads every point as a stream would; the embedded store counts from the
        fine cells it keeps for every point."""
        stream = self.open_points(dataset, None, form=PLAIN_ARROW)
        counts = np.zeros((grid.height, grid.width), dtype=np.int64)
        schema = stream.schema.arrow(dataset=dataset, geometry="planar")
        try:
            for chunk in stream.chunks:
                for batch in arrow.read_batches(chunk.data, schema):
                    xs = batch.column(1).to_numpy(zero_copy_only=False)
                    ys = batch.column(2).to_numpy(zero_copy_only=False)
                    accumulate(counts, xs, ys, grid)
        finally:
            stream.chunks.close()
        return counts

    def remove_orphans(self) -> None:  # noqa: B027 - optional: stores that leave nothing behind
        """Remove what loads that died left in the store's own storage (versions never published);
        loads still running keep theirs."""

    def attach(
        self,
        dataset: str,
        *,
        collection: str,
        location_field: str,
        id_field: str | None = None,
        geometry: GeometryKind = GeometryKind.PLANAR,
        create_index: bool = False,
    ) -> dict[str, Any]:
        """Register `dataset` over an existing collection ("db.coll") whose `location_field` holds
        the points' locations, and return its metadata (points.stores.mongo.attach says what);
        only the MongoDB store can."""
        raise StoreError(ATTACH_NEEDS_MONGO)

    def refresh(self, dataset: str) -> dict[str, Any]:
        """Compute an attached dataset's count, bounds and schema again, and return its metadata."""
        raise StoreError(ATTACH_NEEDS_MONGO)

    def size(self, dataset: str) -> int | None:
        """Return the bytes the dataset takes in the store, or None when the store cannot tell."""
        return None

    def verify(self, dataset: str) -> list[str]:
        """Return what is damaged in the dataset's stored points, one problem a string (empty
        when all is well); `manage.py check_points` runs it.

        This default reads every point as a stream would and checks that it can, and that it
        yields as many points as `count` says; the embedded store checks every block of every
        section, its index rows and its grid file."""
        try:
            expected = self.count(dataset)
            chunks = self.open_points(dataset, None, form=PLAIN_ARROW).chunks
            try:
                found = sum(chunk.count for chunk in chunks)
            finally:
                chunks.close()
        except StoreError as exc:
            return [str(exc)]
        if found != expected:
            return [f"{found:,} points can be read, the store counts {expected:,}"]
        return []

    def verify_store(self, *, quick: bool = False) -> list[str]:
        """Return what is damaged in what the store shares between datasets (the embedded
        store's index file), one problem a string; `quick` asks only for the cheap checks (run by
        every `manage.py` command). This default has nothing to check."""
        return []

    def close(self) -> None:  # noqa: B027 - optional for stores that hold nothing open
        """Release connections; the store may not be used afterwards."""


def _in_lon_lat(batches: Iterable[PointBatch]) -> Iterator[PointBatch]:
    """Pass the batches on, refusing coordinates that spherical data cannot have."""
    for batch in batches:
        outside = outside_lon_lat(batch.xs, batch.ys)
        if len(outside):
            i = int(outside[0])
            raise StoreError(
                f"spherical data needs {LON_LAT_RANGE}; {len(outside):,} point(s) of a batch are not, "
                f"the first at ({float(batch.xs[i])}, {float(batch.ys[i])})"
            )
        yield batch
