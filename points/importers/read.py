"""read_points: a file of any format as batches, its bytes counted as they are read (for progress)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import IO, Any

from points.batches import PointBatch
from points.importers.csv import read_csv
from points.importers.geojson import read_geojson
from points.importers.ndjson import read_ndjson
from points.importers.shared import Format, ImportFileError, ImportOptions, ImportReport

READERS: dict[Format, Callable[[IO[bytes], ImportOptions], Iterator[PointBatch]]] = {
    "csv": read_csv,
    "geojson": read_geojson,
    "ndjson": read_ndjson,
}


class _Counting:
    """A reader that keeps options.report.bytes_read up to date (for progress)."""

    def __init__(self, binary: IO[bytes], report: ImportReport) -> None:
        self.binary = binary
        self.report = report

    def read(self, size: int = -1) -> bytes:
        data = self.binary.read(size)
        self.report.bytes_read += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        data = self.binary.readline(size)
        self.report.bytes_read += len(data)
        return data


def read_points(binary: IO[bytes], options: ImportOptions) -> Iterator[PointBatch]:
    """Yield the file's points in batches, in the given format; a file without points is an error."""
    total = 0
    counting: Any = _Counting(binary, options.report)
    for batch in READERS[options.format](counting, options):
        total += len(batch)
        yield batch
    if not total:
        raise ImportFileError("the file holds no points")
