"""The PointStore contract every backend implements, and the errors it raises."""

from __future__ import annotations

import abc
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from points import arrow
from points.batches import Bounds, Chunk, Format, IntArray, PointBatch, StreamForm
from points.geometry import Area
from points.overview import Grid, accumulate
from points.rules import GeometryKind
from points.schema import PointSchema

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


class StoreError(Exception):
    """Base of every error a point store raises on purpose."""


class DatasetNotFound(StoreError):
    """The store holds no points for this dataset."""


class DatasetExists(StoreError):
    """The dataset was created already."""


class StoreFull(StoreError):
    """The store's disk (or its server's) has no room for what is being written."""


class StoreUnavailable(StoreError):
    """The store's server cannot be reached or answered with an error."""


class StoreDamaged(StoreError):
    """What the store keeps on disk is not as it wrote it (its index, or a dataset's files): a
    stream meeting it ends with an error, a request before the first byte gets a 503. The
    message is fit for a user: it names the dataset or the file, never a full path."""


class PointStore(abc.ABC):
    """Where the points of every dataset live; one instance is shared by a process."""

    #: the URL schemes this backend answers to
    schemes: tuple[str, ...] = ()
    #: iterators of this store now open (a stream that ends or is closed gives its cursor back)
    open_cursors: int = 0

    @abc.abstractmethod
    def create(self, dataset: str, *, geometry: GeometryKind) -> None:
        """Make empty storage for `dataset`; raise DatasetExists if it is there already."""

    @abc.abstractmethod
    def drop(self, dataset: str) -> None:
        """Remove the dataset's points and index; do nothing if it does not exist."""

    @abc.abstractmethod
    def insert(self, dataset: str, batches: Iterable[PointBatch]) -> int:
        """Add the points batch by batch, build the spatial index, and return how many were added."""

    @abc.abstractmethod
    def replace(self, source: str, target: str) -> None:
        """Make `source`'s points those of `target` in one step, dropping `target`'s old points;
        `source` is gone afterwards. (A stream of the old `target` already open reads on in the
        embedded store; with MongoDB it ends with an error line, as its collection is dropped.)"""

    @abc.abstractmethod
    def names(self) -> list[str]:
        """Return the names of the datasets the store holds."""

    @abc.abstractmethod
    def count(self, dataset: str) -> int:
        """Return the number of points in the dataset."""

    @abc.abstractmethod
    def bounds(self, dataset: str) -> Bounds | None:
        """Return (min_x, min_y, max_x, max_y) of the points, or None when there are none."""

    @abc.abstractmethod
    def exists(self, dataset: str) -> bool:
        """Return whether the store has storage for `dataset`."""

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
        """Remove what imports that died left in the store's own storage (not its scratch datasets,
        which points.jobs.sweep drops by name); imports still running keep theirs."""

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
