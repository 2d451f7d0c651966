"""Read point files (CSV, GeoJSON, NDJSON) into batches of points, never the whole file at once.

Every reader raises ImportFileError naming the line (or feature) and what is wrong with it. The
package, by concern:

* shared: the options and report, the errors, and the rules every point meets (point_id: the
  one id rule; its coordinates; its properties), checked as the Batcher takes each point;
* text: a file's bytes as text (UTF-8 only), in lines or in blocks of lines for the fast paths;
* jsondepth: nesting bounded on the bytes, before a JSON parser sees them;
* csv, ndjson, geojson: the readers, each with its fast path where it has one; records: one
  JSON object (an NDJSON line, a GeoJSON Feature) as a point;
* guess: the format a file name suggests, the geometry kind a file's start suggests;
* read: read_points, any format.
"""

from points.importers.guess import (
    GUESS_BYTES,
    KIND_WORDS,
    GeometryGuess,
    choose_geometry,
    guess_format,
    guess_geometry,
)
from points.importers.jsondepth import MAX_JSON_DEPTH
from points.importers.read import read_points
from points.importers.shared import FORMATS, MAX_PROPERTIES_BYTES, Format, ImportFileError, ImportOptions
from points.importers.text import UTF16_MESSAGE

__all__ = [
    "FORMATS",
    "GUESS_BYTES",
    "KIND_WORDS",
    "MAX_JSON_DEPTH",
    "MAX_PROPERTIES_BYTES",
    "UTF16_MESSAGE",
    "Format",
    "GeometryGuess",
    "ImportFileError",
    "ImportOptions",
    "choose_geometry",
    "guess_format",
    "guess_geometry",
    "read_points",
]
