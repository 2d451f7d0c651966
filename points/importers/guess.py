"""What a file's name and start suggest: its format, and whether its points are lon/lat
(spherical) or x/y (planar); and which geometry kind an import takes (choose_geometry)."""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ijson
import orjson

from points.importers.csv import pick_column
from points.importers.shared import X_NAMES, Y_NAMES, Format, ImportFileError
from points.rules import GeometryKind, in_lon_lat

# Coordinate names that mean lon/lat (compared case-insensitively): a file read through them is
# guessed spherical (guess_geometry).
LON_NAMES = ("lon", "lng", "long", "longitude")
LAT_NAMES = ("lat", "latitude")
# How much of a file's start guess_geometry reads: a CSV header, or a first record.
GUESS_BYTES = 1 << 16


def guess_format(filename: str) -> Format:
    """Return the format a file name suggests, or raise ImportFileError."""
    suffix = Path(filename).suffix.lower()
    known: dict[str, Format] = {
        ".csv": "csv",
        ".geojson": "geojson",
        ".json": "geojson",
        ".ndjson": "ndjson",
        ".jsonl": "ndjson",
    }
    if suffix not in known:
        raise ImportFileError(
            f"cannot tell the format of {Path(filename).name!r}: name it .csv, .geojson or .ndjson, or give the format"
        )
    return known[suffix]


@dataclass(frozen=True)
class GeometryGuess:
    """The geometry kind a file's start suggests, and why (words for the user)."""

    kind: GeometryKind
    why: str


#: how messages call each kind
KIND_WORDS: dict[str, str] = {"planar": "planar (x/y)", "spherical": "lon/lat"}


def choose_geometry(chosen: str, existing: str | None, guess: GeometryGuess | None) -> tuple[GeometryKind, str]:
    """Return the geometry kind an import is of, and why (words for the user): the kind chosen
    (`chosen`, "" for none); else the dataset's own (`existing`), when it is imported again (after
    a failure, or replaced); else the file's guess (planar without one)."""
    if chosen:
        return (GeometryKind.SPHERICAL if chosen == "spherical" else GeometryKind.PLANAR), "as chosen"
    if existing is not None:
        kept: GeometryKind = GeometryKind.SPHERICAL if existing == "spherical" else GeometryKind.PLANAR
        why = "kept from the dataset"
        if guess is not None and guess.kind != kept:
            why += f"; the file looks {KIND_WORDS[guess.kind]}, {guess.why}: choose that kind to change it"
        return kept, why
    if guess is None:
        return GeometryKind.PLANAR, "nothing to guess from"
    return guess.kind, guess.why


def _lon_lat(x_name: str, y_name: str) -> bool:
    return x_name.strip().lower() in LON_NAMES and y_name.strip().lower() in LAT_NAMES


def _named_guess(x_name: str, y_name: str, what: str) -> GeometryGuess:
    kind: GeometryKind = GeometryKind.SPHERICAL if _lon_lat(x_name, y_name) else GeometryKind.PLANAR
    return GeometryGuess(kind, f"guessed from the {what} “{x_name.strip()}”, “{y_name.strip()}”")


def guess_geometry(
    head: bytes, fmt: Format, *, x_column: str | None = None, y_column: str | None = None
) -> GeometryGuess:
    """Guess whether a file is lon/lat (spherical) or x/y (planar) from its start (`head`, up to
    GUESS_BYTES): from the names of the coordinates its import would read, a CSV's columns (those
    chosen, or found as read_csv finds them) or the first NDJSON record's keys; GeoJSON
    coordinates are lon/lat by the spec (RFC 7946), unless its first point cannot be one. Never
    raises: what cannot be read is guessed planar, and the import itself reports the problem."""
    text = head.removeprefix(codecs.BOM_UTF8).decode("utf-8", errors="replace")
    if fmt == "csv":
        try:
            header = next(csv.reader([text.splitlines()[0] if text else ""]))
            xi = pick_column(header, x_column, X_NAMES, "x")
            yi = pick_column(header, y_column, Y_NAMES, "y")
        except (csv.Error, StopIteration, IndexError, ImportFileError):
            return GeometryGuess(GeometryKind.PLANAR, "no lon/lat columns found")
        return _named_guess(header[xi], header[yi], "columns")
    if fmt == "ndjson":
        first = next((line for line in text.splitlines() if line.strip()), "")
        try:
            obj = orjson.loads(first)
        except orjson.JSONDecodeError:
            return GeometryGuess(GeometryKind.PLANAR, "the first line could not be read")
        if isinstance(obj, dict) and obj.get("type") == "Feature":
            return _geojson_guess(obj, "its lines are GeoJSON Features, whose coordinates are lon/lat")
        if not isinstance(obj, dict) or "pt" in obj:
            return GeometryGuess(GeometryKind.PLANAR, "its points are “pt”: [x, y], with no lon/lat names")
        xk = next((k for k in X_NAMES if k in obj), None)
        yk = next((k for k in Y_NAMES if k in obj), None)
        if xk is None or yk is None:
            return GeometryGuess(GeometryKind.PLANAR, "no lon/lat keys found")
        return _named_guess(xk, yk, "keys")
    feature: Any = None
    # A first feature longer than the head (or no JSON at all): go by the spec.
    with contextlib.suppress(ijson.JSONError, ValueError):
        feature = next(ijson.items(io.BytesIO(head.removeprefix(codecs.BOM_UTF8)), "features.item"), None)
    return _geojson_guess(feature, "GeoJSON coordinates are lon/lat")


def _geojson_guess(feature: Any, why: str) -> GeometryGuess:
    """Return lon/lat for a GeoJSON Feature, unless its Point is out of the lon/lat range."""
    try:
        x, y = (float(v) for v in feature["geometry"]["coordinates"][:2])
    except (TypeError, KeyError, ValueError, IndexError):
        return GeometryGuess(GeometryKind.SPHERICAL, f"{why} (RFC 7946)")
    if in_lon_lat(x, y):
        return GeometryGuess(GeometryKind.SPHERICAL, f"{why} (RFC 7946)")
    return GeometryGuess(GeometryKind.PLANAR, f"the first point, [{x:g}, {y:g}], is not lon/lat")
