"""The shapes points travel in between importers, stores and streams (a leaf: no project imports)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Bounds = tuple[float, float, float, float]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


class Format(enum.StrEnum):
    """What a stream's points are written as."""

    NDJSON = "ndjson"
    ARROW = "arrow"
    CSV = "csv"  # export formats: the stores serve Arrow, which points.export writes out
    GEOJSON = "geojson"


class Coding(enum.StrEnum):
    """How a stream's bytes are compressed on the wire (HTTP Content-Encoding)."""

    IDENTITY = "identity"
    ZSTD = "zstd"
    GZIP = "gzip"


@dataclass(frozen=True, slots=True)
class StreamForm:
    """The format and coding a stream is asked for."""

    format: Format = Format.NDJSON
    coding: Coding = Coding.IDENTITY


@dataclass(frozen=True, slots=True)
class PointBatch:
    """Points to insert, as parallel columns; `properties` is None when the points have none."""

    ids: IntArray | list[int | str]
    xs: FloatArray
    ys: FloatArray
    properties: list[dict[str, Any]] | None = None

    def __len__(self) -> int:
        return len(self.xs)


@dataclass(frozen=True, slots=True)
class Chunk:
    """Points read from a store: `count` of them, in the stream's format.

    `data` is NDJSON lines (each `\\n`-ended) or Arrow IPC record-batch messages (no schema), as
    plain bytes (`coding` IDENTITY) or already compressed: whole zstd frames (ZSTD), or raw-deflate
    pieces that end on a sync flush (GZIP, whose `raw_size` and `raw_crc` are the length and
    CRC-32 of the bytes they decode to, for the gzip trailer). A store that keeps no compressed
    copy yields IDENTITY chunks and the stream compresses them.
    """

    count: int
    data: bytes
    coding: Coding = Coding.IDENTITY
    raw_size: int = 0
    raw_crc: int = 0
