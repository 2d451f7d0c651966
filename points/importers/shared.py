"""What every reader shares: the options and report, the errors, and the rules a point must meet
(its id, its coordinates, its properties), checked as the Batcher takes each point.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import orjson

from points.batches import PointBatch
from points.rules import LON_LAT_RANGE, RESERVED_PROPERTIES, GeometryKind, in_lon_lat

Format = Literal["csv", "geojson", "ndjson"]
FORMATS: tuple[Format, ...] = ("csv", "geojson", "ndjson")
BATCH_POINTS = 65_536
# A single line longer than this is refused rather than read into memory.
MAX_LINE_BYTES = 1 << 20
# The most a point's properties may take as JSON: what a line can hold. A GeoJSON feature has no
# line to bound it, and one MongoDB document holds at most 16 MiB: the rule is here, the same for
# every store (a point over it is a row error, which --skip-bad-rows skips).
MAX_PROPERTIES_BYTES = MAX_LINE_BYTES
MAX_REPORTED_ERRORS = 20

X_NAMES = ("x", "lon", "lng", "long", "longitude")
Y_NAMES = ("y", "lat", "latitude")

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class ImportFileError(ValueError):
    """The file cannot be imported; the message names the line and the problem."""


class RowError(ImportFileError):
    """One row (line, feature) is bad; in skip mode it is counted and left out."""


@dataclass
class ImportReport:
    """What an import left out: how many rows, and the first few reasons with their lines."""

    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    bytes_read: int = 0


@dataclass
class ImportOptions:
    """How to read a file: its format, geometry kind and, for CSV, the coordinate columns."""

    format: Format
    geometry: GeometryKind = GeometryKind.PLANAR
    x_column: str | None = None
    y_column: str | None = None
    id_column: str | None = "id"
    batch_points: int = BATCH_POINTS
    #: leave bad rows out (and report them) instead of refusing the whole file
    skip_bad_rows: bool = False
    report: ImportReport = field(default_factory=ImportReport)


# A plain integer literal: an optional minus and ASCII digits, nothing else (no spaces, "+", "_").
INTEGER_TEXT = re.compile(r"-?[0-9]+")


def point_id(value: Any, where: str, *, typed: bool) -> int | str | None:
    """Return a point's id by the one rule of every format, or None (absent: the point is numbered).

    An id is an integer when the file writes it as a plain integer literal (an optional minus and
    digits), within 64 bits; anything else is a string. A CSV cell has no type (quoting does not
    give it one), so it is read (`typed` False): "7" and "-7" are integers, "1.0", "1e3", "+7" and
    " 7" stay the strings they are. A JSON value (`typed`) has its own: 7 is an integer, "7" a
    string, and a number written otherwise (1.0, 1e3) is refused, as its text is lost in parsing.
    The CSV fast path (csv._integer_ids) reads its id column by this rule too.
    """
    if value is None or value == "":
        return None
    if not typed:
        if not INTEGER_TEXT.fullmatch(value):
            return str(value)
        value = int(value)
        if not INT64_MIN <= value <= INT64_MAX:
            raise RowError(
                f"{where}: id {value} is too large for a 64-bit integer; an id of digits is read as an integer: "
                "to keep such ids, give them a character other than a digit (such as a prefix)"
            )
        return value
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        raise RowError(
            f"{where}: id {value!r} is a number but not an integer (written with a fraction or an exponent): "
            "write it as an integer, or quote it to keep it as a string"
        )
    if isinstance(value, bool) or not isinstance(value, int):
        raise RowError(f"{where}: id must be an integer or a string, got {value!r}")
    if not INT64_MIN <= value <= INT64_MAX:
        raise RowError(f"{where}: id {value} is too large for a 64-bit integer; quote it to keep it as a string")
    return value


class Batcher:
    """Checks points one by one and hands them out as PointBatches of a fixed size."""

    def __init__(self, options: ImportOptions) -> None:
        self.options = options
        self.spherical = options.geometry == GeometryKind.SPHERICAL
        self.next_id = 0
        self._reset()

    def _reset(self) -> None:
        self.ids: list[int | str] = []
        self.xs: list[float] = []
        self.ys: list[float] = []
        self.props: list[dict[str, Any]] = []
        self.any_props = False

    def reject(self, error: RowError) -> None:
        """Count a bad row in skip mode; refuse the file otherwise."""
        if not self.options.skip_bad_rows:
            raise error
        report = self.options.report
        report.rejected += 1
        if len(report.errors) < MAX_REPORTED_ERRORS:
            report.errors.append(str(error))

    def add(
        self,
        where: str,
        pid: int | str | None,
        x: Any,
        y: Any,
        props: dict[str, Any] | None,
        labels: tuple[str, str] = ("x", "y"),
        *,
        big: bool = False,
    ) -> PointBatch | None:
        """Take one point, its id already read by point_id; `labels` name its coordinates as the
        file does (a CSV's own columns); `big`: the point's record may be too big for
        MAX_PROPERTIES_BYTES (its size is checked)."""
        fx = _coordinate(x, where, labels[0])
        fy = _coordinate(y, where, labels[1])
        if self.spherical and not in_lon_lat(fx, fy):
            wrong = [f"{labels[0]} is {fx:g}"] if not in_lon_lat(fx, 0.0) else []
            wrong += [f"{labels[1]} is {fy:g}"] if not in_lon_lat(0.0, fy) else []
            raise RowError(f"{where}: {' and '.join(wrong)}, out of range for spherical data ({LON_LAT_RANGE})")
        if props:
            check_properties(props, where)
            if big:
                _check_size(props, where)
        self.ids.append(self.next_id if pid is None else pid)
        self.next_id += 1
        self.xs.append(fx)
        self.ys.append(fy)
        self.props.append(props or {})
        self.any_props = self.any_props or bool(props)
        if len(self.xs) >= self.options.batch_points:
            return self.flush()
        return None

    def flush(self) -> PointBatch | None:
        """Return the points taken since the last batch (None: there are none)."""
        if not self.xs:
            return None
        ids: Any = self.ids
        if all(type(i) is int for i in ids):
            ids = np.array(ids, dtype=np.int64)
        batch = PointBatch(
            ids=ids,
            xs=np.array(self.xs, dtype=np.float64),
            ys=np.array(self.ys, dtype=np.float64),
            properties=self.props if self.any_props else None,
        )
        self._reset()
        return batch


def split(batch: PointBatch, size: int) -> Iterator[PointBatch]:
    """Yield a batch without properties (a fast path's) in pieces of at most `size` points."""
    for start in range(0, len(batch), size):
        stop = start + size
        yield PointBatch(ids=batch.ids[start:stop], xs=batch.xs[start:stop], ys=batch.ys[start:stop])


_NUL = "\x00"
_NUL_NAME = "has a NUL character (\\u0000) in its name, which no store can keep as a name"


def check_properties(props: dict[str, Any], where: str) -> None:
    """Refuse what a store could not keep as it is: reserved names, names with a NUL character
    (MongoDB's names end at one), integers beyond 64 bits; in nested objects too."""
    for key, value in props.items():
        if key in RESERVED_PROPERTIES:
            raise RowError(f"{where}: a property may not be named {key!r} (a name the points use themselves)")
        if _NUL in key:
            raise RowError(f"{where}: property {_shown(key)} {_NUL_NAME}")
        problem = _unkept(value) if isinstance(value, (int, list, dict)) else None
        if problem is not None:
            raise RowError(f"{where}: property {key!r} {problem}")


def _unkept(value: Any) -> str | None:
    """Say what in a property's value a store could not keep (None: nothing). Only JSON formats
    get here with such integers (a CSV cell beyond 64 bits stays text), so quoting is the advice."""
    if isinstance(value, int) and not isinstance(value, bool):
        if INT64_MIN <= value <= INT64_MAX:
            return None
        return "holds an integer beyond 64 bits; quote it to keep it as a string"
    if isinstance(value, list):
        return next((p for p in map(_unkept, value) if p is not None), None)
    if isinstance(value, dict):
        for key, item in value.items():
            if _NUL in key:
                return f"holds an object whose key {_shown(key)} {_NUL_NAME}"
            problem = _unkept(item)
            if problem is not None:
                return problem
    return None


def _shown(name: str) -> str:
    """A name as a message shows it: quoted, escaped, at most 40 characters."""
    return repr(name if len(name) <= 40 else name[:40] + "…")


def _check_size(props: dict[str, Any], where: str) -> None:
    """Refuse properties taking more than MAX_PROPERTIES_BYTES as JSON (after check_properties:
    every integer fits 64 bits)."""
    size = len(orjson.dumps(props))
    if size > MAX_PROPERTIES_BYTES:
        raise RowError(
            f"{where}: its properties take {size:,} bytes as JSON, more than the {MAX_PROPERTIES_BYTES:,} "
            "a point may have"
        )


def _coordinate(value: Any, where: str, label: str) -> float:
    """Return a coordinate as a float; `label` names it as the user's file does (`column “lon”`)."""
    if isinstance(value, bool) or value is None:
        raise RowError(f"{where}: {label} is missing or not a number ({value!r})")
    try:
        number = float(value)
    except (TypeError, ValueError):
        shown = value if not isinstance(value, str) or len(value) <= 40 else value[:40] + "…"
        raise RowError(f"{where}: {label} is not a number: {shown!r}") from None
    if not math.isfinite(number):
        raise RowError(f"{where}: {label} must be a finite number, got {value!r}")
    return number
