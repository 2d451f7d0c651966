"""Input hygiene of the point file readers: nesting bounded before it costs memory, UTF-8 BOMs
accepted, UTF-16 refused by name."""

from __future__ import annotations

import codecs
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from points.geometry import PolygonError, parse_area
from points.importers import MAX_JSON_DEPTH, ImportFileError, ImportOptions, read_points
from points.importers.jsondepth import DepthScan
from points.rules import GeometryKind

ROOT = Path(__file__).resolve().parent.parent
FEATURE_HEAD = '{"type":"FeatureCollection","features":['


def feature(i: int, props: object = None) -> str:
    return json.dumps(
        {"type": "Feature", "id": i, "geometry": {"type": "Point", "coordinates": [i, i]}, "properties": props or {}}
    )


def collection(*features: str) -> str:
    return FEATURE_HEAD + ",".join(features) + "]}"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def count(data: bytes | str, fmt: str, **options: Any) -> int:
    raw = data.encode() if isinstance(data, str) else data
    chosen = ImportOptions(format=fmt, **options)  # type: ignore[arg-type]
    return sum(len(b) for b in read_points(io.BytesIO(raw), chosen))


# --- nesting ------------------------------------------------------------------------------------


PEAK = textwrap.dedent(
    """
    import io, resource, sys
    from points.importers import ImportFileError, ImportOptions, read_points
    data = sys.stdin.buffer.read()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        for _ in read_points(io.BytesIO(data), ImportOptions(format=sys.argv[1])):
            pass
    except ImportFileError as exc:
        print(exc)
    print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
    """
)


@pytest.mark.parametrize("fmt", ["geojson", "ndjson"])
def test_40k_levels_in_80_kb_are_refused_in_little_memory(fmt: str) -> None:
    # Before the bound: +3.8 GB of peak RSS for the GeoJSON (ijson), a RecursionError for the NDJSON.
    data = (nested(40_000) + "\n").encode()
    assert len(data) > 80_000
    result = subprocess.run(
        [sys.executable, "-c", PEAK, fmt], input=data, capture_output=True, cwd=ROOT, check=True, timeout=60
    )
    message, grown_mb = result.stdout.decode().strip().rsplit("\n", 1)
    assert f"nested more than {MAX_JSON_DEPTH} deep" in message and message.startswith("line 1")
    assert int(grown_mb) <= 50


def test_geojson_nesting_is_refused_naming_the_line_byte_and_limit() -> None:
    data = collection(feature(0), feature(1, {"deep": json.loads(nested(100))})).replace("},{", "},\n{")
    with pytest.raises(ImportFileError) as caught:
        count(data, "geojson")
    byte = data.encode().index(b"[" * (MAX_JSON_DEPTH - 4)) + MAX_JSON_DEPTH - 4 + 1
    assert str(caught.value) == (
        f"line 2 (byte {byte:,}): arrays and objects nested more than 64 deep; a point file needs far fewer"
    )


def test_geojson_nesting_far_into_a_file_is_found_across_reads() -> None:
    points = [feature(i, {"name": f'a "quoted" [name {i}'}) for i in range(3000)]
    deep = feature(3000, {"deep": json.loads(nested(80))})
    data = collection(*points, deep).replace("},{", "},\n{")
    assert len(data) > 300_000
    with pytest.raises(ImportFileError, match=r"^line 3001 \(byte [\d,]+\): arrays and objects nested more than 64"):
        count(data, "geojson")
    # Nesting within the limit, and brackets in strings, are fine.
    fine = feature(3000, {"deep": json.loads(nested(MAX_JSON_DEPTH - 4)), "s": "[" * 500 + '\\"{' * 100})
    assert count(collection(*points, fine), "geojson") == 3001


def test_ndjson_nesting_refuses_the_line_or_skips_it() -> None:
    data = '{"pt": [0, 0]}\n{"pt": [1, 1], "a": ' + nested(65) + '}\n{"pt": [2, 2], "s": "' + "[" * 200 + '"}\n'
    with pytest.raises(ImportFileError) as caught:
        count(data, "ndjson")
    assert str(caught.value) == (
        "line 2: arrays and objects nested more than 64 deep (at character 84); a point needs far fewer"
    )
    options = ImportOptions(format="ndjson", skip_bad_rows=True)
    assert sum(len(b) for b in read_points(io.BytesIO(data.encode()), options)) == 2
    assert options.report.rejected == 1 and options.report.errors[0].startswith("line 2: arrays and objects nested")
    assert count('{"pt": [0, 0], "a": ' + nested(63) + "}\n", "ndjson") == 1


def test_a_deeply_nested_polygon_body_is_refused_at_once() -> None:
    for body in (b"[" * (1 << 20), b'{"type":"Polygon","coordinates":' + nested(500_000).encode() + b"}"):
        with pytest.raises(PolygonError, match=r"not valid JSON: it nests arrays and objects more than 1,024 deep"):
            parse_area(body, kind=GeometryKind.PLANAR)


def reference_depth(data: bytes, limit: int) -> int | None:
    """The offset of the first bracket deeper than `limit`, byte by byte."""
    depth, in_string, escaped = 0, False, False
    for i, byte in enumerate(data):
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in b"[{":
            depth += 1
            if depth > limit:
                return i
        elif byte in b"]}":
            depth -= 1
    return None


STRINGS = st.lists(st.sampled_from(["a", "[", "]", "{", "}", "\\\\", '\\"', "\\n", "\\\\\\\\", "é"]), max_size=8).map(
    lambda parts: '"' + "".join(parts) + '"'
)
TOKENS = st.lists(st.one_of(st.sampled_from(["[", "]", "{", "}", ",", ":", "1", " "]), STRINGS), max_size=80)


@settings(max_examples=250, deadline=None)
@given(tokens=TOKENS, lead=st.integers(0, 20), limit=st.sampled_from([2, 5, 12]), piece=st.integers(1, 50))
def test_the_depth_scan_agrees_with_a_byte_by_byte_one(tokens: list[str], lead: int, limit: int, piece: int) -> None:
    data = ("[" * lead + "".join(tokens)).encode()
    scan = DepthScan(limit=limit)
    scan.PIECE_BYTES = piece
    assert scan.feed(data) == reference_depth(data, limit)


# --- encodings ----------------------------------------------------------------------------------

SAMPLES = {
    "csv": "x,y\n1,2\n",
    "geojson": collection(feature(0)),
    "ndjson": '{"pt": [1, 2]}\n',
}


@pytest.mark.parametrize("fmt", SAMPLES)
def test_a_utf8_bom_is_accepted(fmt: str) -> None:
    assert count(codecs.BOM_UTF8 + SAMPLES[fmt].encode(), fmt) == 1


@pytest.mark.parametrize("fmt", SAMPLES)
@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_is_refused_by_name(fmt: str, encoding: str) -> None:
    name = "UTF-32" if encoding == "utf-32" else "UTF-16"
    with pytest.raises(ImportFileError, match=f"^{name} is not supported; save as UTF-8$"):
        count(SAMPLES[fmt].encode(encoding), fmt)


def test_ndjson_with_a_bom_keeps_the_fast_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    from points.importers import ndjson

    def no_rows(*args: object, **kwargs: object) -> None:
        raise AssertionError("the row-by-row reader was used")

    monkeypatch.setattr(ndjson, "_ndjson_rows", no_rows)
    assert count(codecs.BOM_UTF8 + b'{"id": 1, "pt": [1, 2]}\n{"id": 2, "pt": [3, 4]}\n', "ndjson") == 2
