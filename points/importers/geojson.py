"""Read a GeoJSON FeatureCollection of Points, parsed incrementally (ijson) through the depth check."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO

import ijson

from points.batches import PointBatch
from points.importers.jsondepth import DepthChecked
from points.importers.records import json_record
from points.importers.shared import Batcher, ImportFileError, ImportOptions, RowError
from points.importers.text import text_start

# Features yielded after at most this many bytes were read are too small to be measured (see read_geojson).
_SMALL_FEATURE_BYTES = 1 << 16


def read_geojson(binary: IO[bytes], options: ImportOptions) -> Iterator[PointBatch]:
    """Yield batches from a GeoJSON FeatureCollection of Points, parsed incrementally."""
    batcher = Batcher(options)
    text = text_start(binary)
    head = text.peek(4096)[:4096]  # type: ignore[attr-defined]
    if not head.strip():
        raise ImportFileError("the file is empty: expected a GeoJSON FeatureCollection")
    if b"\x00" in head:
        raise ImportFileError("this is not a text file")
    # ijson reads through the depth check, so it never holds more than MAX_JSON_DEPTH levels.
    checked = DepthChecked(text)
    stream = io.BufferedReader(checked, buffer_size=1 << 16)
    count = 0
    read_before = 0
    try:
        for count, feature in enumerate(ijson.items(stream, "features.item", use_float=True), start=1):
            # Properties take at most 4.5 times their feature's bytes as JSON (a float such as 1e15
            # is written 1000000000000000.0), so over MAX_PROPERTIES_BYTES only in a feature of
            # 233 KiB or more, which is yielded after at least that less what is read ahead
            # (< 128 KiB) was read since the last one: only such features are measured.
            big = checked.scan.offset - read_before > _SMALL_FEATURE_BYTES
            read_before = checked.scan.offset
            where = f"feature {count}"
            try:
                batch = batcher.add(where, *json_record(feature, where), big=big)
            except RowError as exc:
                batcher.reject(exc)
                continue
            if batch is not None:
                yield batch
    except ijson.JSONError as exc:
        if "integer overflow" in str(exc):  # yajl reads integers as 64-bit ones: it stops, no row error
            raise ImportFileError(
                f"after feature {count}: an integer beyond 64 bits, which the GeoJSON reader cannot read; "
                "quote it to keep it as a string"
            ) from None
        raise ImportFileError(f"not valid JSON after feature {count}: {exc}") from None
    if count == 0:
        raise ImportFileError('no features found: expected a FeatureCollection with a "features" list of Points')
    batch = batcher.flush()
    if batch is not None:
        yield batch
