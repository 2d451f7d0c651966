"""Point file readers (points.importers): good files, and bad ones refused with the line named."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import orjson
import pytest

from points.importers import (
    MAX_PROPERTIES_BYTES,
    ImportFileError,
    ImportOptions,
    guess_format,
    guess_geometry,
    read_points,
)
from points.importers import csv as csv_reader
from points.rules import LON_LAT_RANGE


def read(data: bytes | str, fmt: str, **options: object) -> list[dict]:
    raw = data.encode() if isinstance(data, str) else data
    out: list[dict] = []
    for batch in read_points(io.BytesIO(raw), ImportOptions(format=fmt, **options)):  # type: ignore[arg-type]
        ids = batch.ids.tolist() if isinstance(batch.ids, np.ndarray) else list(batch.ids)
        props = batch.properties or [{}] * len(ids)
        for i, x, y, p in zip(ids, batch.xs.tolist(), batch.ys.tolist(), props, strict=True):
            out.append({"id": i, "pt": [x, y], **p})
    return out


def test_csv_with_properties_bom_crlf_and_quoted_commas() -> None:
    data = '\ufeffid,x,y,name,score\r\n7,1.5,2,"Smith, Jo",3\r\n8,-1,1e3,plain,2.5\r\n'
    assert read(data, "csv") == [
        {"id": 7, "pt": [1.5, 2.0], "name": "Smith, Jo", "score": 3},
        {"id": 8, "pt": [-1.0, 1000.0], "name": "plain", "score": 2.5},
    ]


def test_csv_lon_lat_columns_and_generated_ids() -> None:
    data = "Latitude,Longitude\n10,20\n-5,170\n"
    assert read(data, "csv", geometry="spherical") == [{"id": 0, "pt": [20.0, 10.0]}, {"id": 1, "pt": [170.0, -5.0]}]


def test_csv_chosen_columns() -> None:
    data = "a,b,c\n1,2,3\n"
    assert read(data, "csv", x_column="c", y_column="a") == [{"id": 0, "pt": [3.0, 1.0], "b": 2}]


def test_batches_are_bounded() -> None:
    data = "x,y\n" + "".join(f"{i},{i}\n" for i in range(2500))
    batches = list(read_points(io.BytesIO(data.encode()), ImportOptions(format="csv", batch_points=1000)))
    assert [len(b) for b in batches] == [1000, 1000, 500]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("", "the file is empty"),
        ("x,y\n1,2\n3,abc\n", "line 3: column “y” is not a number: 'abc'"),
        ("x,y\n1,2\n3\n", "line 3: 1 fields, but the header has 2"),
        ("a,b\n1,2\n", "line 1: no x column"),
        ("x,y\n1,nan\n", "line 2: column “y” must be a finite number"),
        ("x,y\n1,inf\n", "line 2: column “y” must be a finite number"),
        ("x,y\n1,\n", "line 2: column “y” is not a number: ''"),
        ('x,y\n1,"2\n', "line 2"),
        (b"x,y\n\x00\x01\x02,3\n", "line 2: contains NUL bytes"),
        (b"x,y\n\xff\xfe,1\n", "line 2: not valid UTF-8"),
        ("x,y\n" + "1" * (1 << 20 + 1) + ",2\n", "line 2: longer than"),
    ],
)
def test_bad_csv(data: str | bytes, message: str) -> None:
    with pytest.raises(ImportFileError) as caught:
        read(data, "csv")
    assert message in str(caught.value)


def test_spherical_range_is_checked_with_the_line() -> None:
    with pytest.raises(ImportFileError, match=r"line 3: .*out of range"):
        read("lon,lat\n1,2\n200,1\n", "csv", geometry="spherical")


def test_ndjson_pt_xy_and_features() -> None:
    data = (
        "\n".join(
            [
                json.dumps({"id": "a", "pt": [1, 2], "k": 1}),
                "",
                json.dumps({"x": 3, "y": 4}),
                json.dumps(
                    {
                        "type": "Feature",
                        "id": 9,
                        "geometry": {"type": "Point", "coordinates": [5, 6]},
                        "properties": {"name": "n"},
                    }
                ),
            ]
        )
        + "\n"
    )
    assert read(data, "ndjson") == [
        {"id": "a", "pt": [1.0, 2.0], "k": 1},
        {"id": 1, "pt": [3.0, 4.0]},
        {"id": 9, "pt": [5.0, 6.0], "name": "n"},
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("", "the file is empty"),
        ('{"pt": [1, 2]}\n{"pt": [1]}\n', "line 2: pt must be [x, y]"),
        ('{"pt": [1, 2]}\n[1, 2]\n', "line 2: expected a JSON object"),
        ('{"pt": [1, 2]}\n{"a": 1}\n', 'line 2: needs "pt"'),
        ('{"pt": [1, 2]}\n{oops\n', "line 2: not valid JSON"),
        ('{"pt": ["1", true]}\n', "line 1: y is missing or not a number"),
        ('{"id": [1], "pt": [1, 2]}\n', "line 1: id must be an integer or a string"),
    ],
)
def test_bad_ndjson(data: str, message: str) -> None:
    with pytest.raises(ImportFileError) as caught:
        read(data, "ndjson")
    assert message in str(caught.value)


def test_geojson_feature_collection() -> None:
    doc = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1.5, 2.5]}, "properties": {"a": 1}},
            {"type": "Feature", "id": "z", "geometry": {"type": "Point", "coordinates": [3, 4]}, "properties": None},
        ],
    }
    assert read(json.dumps(doc), "geojson") == [{"id": 0, "pt": [1.5, 2.5], "a": 1}, {"id": "z", "pt": [3.0, 4.0]}]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("", "the file is empty"),
        ('{"type": "FeatureCollection", "features": []}', "no features found"),
        (
            '{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {"type": "LineString"}}]}',
            "feature 1: the feature's geometry must be a Point",
        ),
        (
            '{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}}, {',
            "not valid JSON after feature 1",
        ),
    ],
)
def test_bad_geojson(data: str, message: str) -> None:
    with pytest.raises(ImportFileError) as caught:
        read(data, "geojson")
    assert message in str(caught.value)


def test_guess_format() -> None:
    assert (
        guess_format("a/b.CSV") == "csv"
        and guess_format("x.geojson") == "geojson"
        and guess_format("x.jsonl") == "ndjson"
    )
    with pytest.raises(ImportFileError, match="cannot tell the format"):
        guess_format("points.xlsx")


@pytest.mark.parametrize(("data", "fmt"), [("x,y\n", "csv"), ("\n\n  \n", "ndjson")])
def test_a_file_without_points_is_refused(data: str, fmt: str) -> None:
    with pytest.raises(ImportFileError, match="holds no points"):
        read(data, fmt)


def test_fast_and_row_paths_agree_and_name_the_right_line() -> None:
    rows = "".join(f"{i},{i * 0.5},{i * 0.25}\n" for i in range(300_000))
    fast = read("id,x,y\n" + rows, "csv")
    slow = read("id,x,y,note\n" + "".join(f"{r[:-1]},n\n" for r in rows.splitlines(keepends=True)), "csv")
    assert [p["pt"] for p in fast] == [p["pt"] for p in slow] and [p["id"] for p in fast] == list(range(300_000))
    with pytest.raises(ImportFileError, match="line 250001: column “y” is not a number: 'oops'"):
        read("id,x,y\n" + rows.replace("249999,124999.5,62499.75\n", "249999,124999.5,oops\n"), "csv")
    lines = "".join(f'{{"id": {i}, "pt": [{i}, 1]}}\n' for i in range(200_000))
    assert len(read(lines, "ndjson")) == 200_000
    with pytest.raises(ImportFileError, match="line 150001: pt must be"):
        read(lines.replace('{"id": 150000, "pt": [150000, 1]}', '{"id": 150000, "pt": [1]}'), "ndjson")


def test_skip_mode_imports_the_good_rows_and_reports_the_bad() -> None:
    data = "x,y\n1,1\n2,oops\n3,3\n4\n" + "".join(f"{i},{i}\n" for i in range(5, 40)) + "nan,1\n"
    options = ImportOptions(format="csv", skip_bad_rows=True)
    points = [p for b in read_points(io.BytesIO(data.encode()), options) for p in b.xs.tolist()]
    assert points == [1.0, 3.0, *[float(i) for i in range(5, 40)]]
    assert options.report.rejected == 3
    assert options.report.errors == [
        "line 3: column “y” is not a number: 'oops'",
        "line 5: 1 fields, but the header has 2",
        "line 41: column “x” must be a finite number, got 'nan'",
    ]
    assert options.report.bytes_read == len(data)


def test_skip_mode_for_ndjson_and_geojson() -> None:
    options = ImportOptions(format="ndjson", skip_bad_rows=True)
    data = b'{"pt": [1, 2]}\n{bad\n{"pt": [3]}\n{"pt": [5, 6]}\n'
    assert sum(len(b) for b in read_points(io.BytesIO(data), options)) == 2
    assert options.report.rejected == 2 and options.report.errors[0].startswith("line 2: not valid JSON")
    options = ImportOptions(format="geojson", skip_bad_rows=True)
    doc = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}},
            {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": []}},
        ],
    }
    assert sum(len(b) for b in read_points(io.BytesIO(json.dumps(doc).encode()), options)) == 1
    assert options.report.errors == ["feature 2: the feature's geometry must be a Point, got 'Polygon'"]


def test_a_huge_line_or_a_binary_file_is_refused() -> None:
    huge = b'{"pt": [1, 2], "pad": "' + b"x" * (3 << 20) + b'"}\n'
    with pytest.raises(ImportFileError, match=r"line 1: longer than 1,048,576 bytes"):
        read(huge, "ndjson")
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10
    with pytest.raises(ImportFileError, match=r"this is not a text file"):
        read(png, "geojson")
    with pytest.raises(ImportFileError, match=r"line 1: not valid UTF-8"):
        read(png, "ndjson")


def test_ids_and_properties_a_store_could_not_keep_are_refused_per_row() -> None:
    with pytest.raises(ImportFileError, match="line 3: id 99999999999999999999 is too large"):
        read("id,x,y\n1,1,1\n99999999999999999999,2,2\n", "csv")
    with pytest.raises(ImportFileError, match="line 2: id 18446744073709551616 is too large"):
        read('{"id": 1, "pt": [1, 1]}\n{"id": 18446744073709551616, "pt": [2, 2]}\n', "ndjson")
    with pytest.raises(ImportFileError, match="line 1: property 'big' holds an integer beyond 64 bits"):
        read('{"pt": [1, 1], "big": [1, 99999999999999999999]}\n', "ndjson")
    with pytest.raises(ImportFileError, match="line 1: a property may not be named '_id'"):
        read('{"pt": [1, 1], "_id": 5}\n', "ndjson")
    with pytest.raises(ImportFileError, match="line 1: a column may not be named '_id'"):
        read("x,y,_id\n1,1,1\n", "csv")
    options = ImportOptions(format="csv", skip_bad_rows=True)
    rows = [
        p for b in read_points(io.BytesIO(b"id,x,y\n1,1,1\n99999999999999999999,2,2\n3,3,3\n"), options) for p in b.xs
    ]
    assert rows == [1.0, 3.0] and options.report.rejected == 1
    # A huge number in a CSV property column stays text rather than failing a store.
    assert read("x,y,code\n1,1,99999999999999999999\n", "csv")[0]["code"] == "99999999999999999999"


def imported(data: bytes, fmt: str) -> tuple[list[float], ImportOptions]:
    """Return the xs of the points a skip-bad-rows import keeps, and its options (their report)."""
    options = ImportOptions(format=fmt, skip_bad_rows=True)  # type: ignore[arg-type]
    return [x for batch in read_points(io.BytesIO(data), options) for x in batch.xs.tolist()], options


def features(*properties: dict | None) -> bytes:
    """Return a compact FeatureCollection of points at x = 1, 2, … with these properties."""
    points = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [i, 0]}, "properties": p}
        for i, p in enumerate(properties, start=1)
    ]
    return json.dumps({"type": "FeatureCollection", "features": points}, separators=(",", ":")).encode()


NUL = "\0"
NUL_NAME = "has a NUL character (\\u0000) in its name, which no store can keep as a name"


def test_a_nul_in_a_property_name_is_a_row_error() -> None:
    # JSON escapes it (\u0000); MongoDB's field names end at a NUL, so no store keeps such a name.
    ndjson = b'{"pt": [1, 1], "a": 1}\n{"pt": [2, 2], "a\\u0000b": 1}\n{"pt": [3, 3], "n": {"k\\u0000": 1}}\n'
    expected = f"line 2: property {'a' + NUL + 'b'!r} {NUL_NAME}"
    with pytest.raises(ImportFileError, match=f"^{re.escape(expected)}$"):
        read(ndjson, "ndjson")
    xs, options = imported(ndjson, "ndjson")
    assert xs == [1.0] and options.report.rejected == 2
    assert options.report.errors[1] == f"line 3: property 'n' holds an object whose key {'k' + NUL!r} {NUL_NAME}"
    geojson = features({"a": 1}, {"deep": [{"x\0": 1}]}, {"\0" * 50: 1}, {"a": "a NUL\0 in a value is kept"})
    with pytest.raises(ImportFileError, match=re.escape("feature 2: property 'deep' holds an object whose key")):
        read(geojson, "geojson")
    xs, options = imported(geojson, "geojson")
    assert xs == [1.0, 4.0] and options.report.rejected == 2
    assert options.report.errors[1] == f"feature 3: property {NUL * 40 + '…'!r} {NUL_NAME}"  # long names cut


def test_a_nul_in_a_csv_header_refuses_the_file() -> None:
    # A header is no row: skipping bad rows does not skip it.
    for skip in (False, True):
        with pytest.raises(ImportFileError, match=r"^line 1: contains NUL bytes; this is not a text file$"):
            read(b"x,y,na\x00me\n1,1,a\n", "csv", skip_bad_rows=skip)


def test_a_feature_whose_properties_are_too_big_for_a_point_is_a_row_error() -> None:
    # A GeoJSON feature has no line limit, and one MongoDB document holds at most 16 MiB: a point's
    # properties may take MAX_PROPERTIES_BYTES (1 MiB, as an NDJSON line may) as JSON.
    small = {"name": "a"}
    huge = {"pad": "x" * MAX_PROPERTIES_BYTES}
    data = features(small, huge, small)
    message = "feature 2: its properties take 1,048,586 bytes as JSON, more than the 1,048,576 a point may have"
    with pytest.raises(ImportFileError, match=f"^{message}$"):
        read(data, "geojson")
    xs, options = imported(data, "geojson")
    assert xs == [1.0, 3.0] and options.report.rejected == 1 and options.report.errors == [message]
    # Each 1e15 takes 5 bytes in the file and 19 as JSON (1000000000000000.0): a feature of a
    # quarter of the limit is measured too.
    floats = {"v": [1e15] * 56_000}
    floats_file = features(floats).replace(b"1000000000000000.0", b"1e15")
    assert len(floats_file) < MAX_PROPERTIES_BYTES // 3
    with pytest.raises(ImportFileError, match=f"^feature 1: its properties take {len(orjson.dumps(floats)):,} bytes"):
        read(floats_file, "geojson")
    # A big one after many small features, and one just within the limit.
    fits = {"pad": "x" * (MAX_PROPERTIES_BYTES - len('{"pad":""}'))}
    xs, options = imported(features(*[small] * 5_000, fits, huge, *[small] * 5_000), "geojson")
    assert len(xs) == 10_001 and 5_001.0 in xs and 5_002.0 not in xs
    assert options.report.rejected == 1 and options.report.errors[0].startswith("feature 5002: its properties take")


def test_row_errors_name_the_users_own_columns() -> None:
    with pytest.raises(ImportFileError, match=r"^line 3: column “Lon” is not a number: 'abc'$"):
        read("id, Lon ,lat\n1,1,2\n2,abc,2\n", "csv")
    with pytest.raises(ImportFileError, match=r"^line 2: column “northing” is not a number: 'n/a'$"):
        read("easting,northing\n1,n/a\n", "csv", x_column="easting", y_column="northing")
    with pytest.raises(ImportFileError, match=r"^line 1: field “lng” is not a number: 'w'$"):
        read('{"lng": "w", "lat": 1}\n', "ndjson")
    with pytest.raises(ImportFileError, match=r"^line 3: column “lon” is 200, out of range for spherical data"):
        read("lon,lat\n1,2\n200,1\n", "csv", geometry="spherical")
    with pytest.raises(ImportFileError, match=r"^line 2: column “lon” is 200 and column “lat” is -95, out of range"):
        read("lon,lat\n200,-95\n", "csv", geometry="spherical")
    # The range is said as everywhere else (points.rules), after the file's own names.
    expected = f"line 2: column “lat” is 91, out of range for spherical data ({LON_LAT_RANGE})"
    with pytest.raises(ImportFileError, match=f"^{re.escape(expected)}$"):
        read("lon,lat\n1,91\n", "csv", geometry="spherical")
    # Where the file has no names of its own ("pt", a Feature's coordinates), x and y it is.
    with pytest.raises(ImportFileError, match=r"^line 1: y is not a number: 'x'$"):
        read('{"pt": [1, "x"]}\n', "ndjson")


def feature_collection(*coordinates: list[float]) -> bytes:
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": c}} for c in coordinates]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


@pytest.mark.parametrize(
    ("head", "fmt", "columns", "kind", "why"),
    [
        (b"id,lon,lat,name\n1,2,3,a\n", "csv", {}, "spherical", "guessed from the columns “lon”, “lat”"),
        (
            b"\xef\xbb\xbfLongitude , LATITUDE\n",
            "csv",
            {},
            "spherical",
            "guessed from the columns “Longitude”, “LATITUDE”",
        ),
        (b"lng,lat\n", "csv", {}, "spherical", "guessed from the columns “lng”, “lat”"),
        (b"x,y\n1,2\n", "csv", {}, "planar", "guessed from the columns “x”, “y”"),
        # The columns the import reads decide: x/y come before lon/lat, and chosen ones win.
        (b"x,y,lon,lat\n", "csv", {}, "planar", "guessed from the columns “x”, “y”"),
        (b"e,n,lon,lat\n", "csv", {"x_column": "e", "y_column": "n"}, "planar", "guessed from the columns “e”, “n”"),
        (b"a,b\n", "csv", {}, "planar", "no lon/lat columns found"),
        (b"", "csv", {}, "planar", "no lon/lat columns found"),
        (b'\n{"lng": 1, "latitude": 2}\n', "ndjson", {}, "spherical", "guessed from the keys “lng”, “latitude”"),
        (b'{"pt": [1, 2]}\n', "ndjson", {}, "planar", "its points are “pt”: [x, y], with no lon/lat names"),
        (b'{"pt": [1, 2', "ndjson", {}, "planar", "the first line could not be read"),
        (
            feature_collection([5, 50], [500, 1]),
            "geojson",
            {},
            "spherical",
            "GeoJSON coordinates are lon/lat (RFC 7946)",
        ),
        (feature_collection([500, 50]), "geojson", {}, "planar", "the first point, [500, 50], is not lon/lat"),
        (b'{"type": "FeatureCollection", "features": [{"type": "Feat', "geojson", {}, "spherical", "(RFC 7946)"),
    ],
)
def test_guess_geometry(head: bytes, fmt: str, columns: dict[str, str], kind: str, why: str) -> None:
    guess = guess_geometry(head, fmt, **columns)  # type: ignore[arg-type]
    assert guess.kind == kind and why in guess.why


# --- ids: one rule for every path and format (points.importers.shared.point_id) ---------------------


CSV_IDS = ["1.0", "1e3", "7", "-7", "007", "-0", "+5", " 5", "1_000", "abc", "²", "", "9223372036854775807"]
#: what each becomes: an integer for a plain integer literal, else the text itself ("": numbered)
CSV_ID_VALUES = ["1.0", "1e3", 7, -7, 7, 0, "+5", " 5", "1_000", "abc", "²", None, 2**63 - 1]


def test_csv_ids_are_integers_only_when_written_as_plain_integers_in_every_path() -> None:
    # Without an extra column the fast path reads a block (orjson, or numpy where a cell is no JSON
    # number: ".5"); with one, the row reader does. Every path gives the same ids.
    for text, value in zip(CSV_IDS, CSV_ID_VALUES, strict=True):
        for x in ("1", ".5"):
            fast = read(f"id,x,y\n5,1,1\n{text},{x},1\n", "csv")
            slow = read(f"id,x,y,note\n5,1,1,a\n{text},{x},1,a\n", "csv")
            assert [p["id"] for p in fast] == [p["id"] for p in slow] == [5, 1 if value is None else value], text
    rows = "".join(f"{i},{n}.5,1\n" for n, i in enumerate(CSV_IDS))
    expected = [n if v is None else v for n, v in enumerate(CSV_ID_VALUES)]
    assert [p["id"] for p in read("id,x,y\n" + rows, "csv")] == expected
    assert [p["id"] for p in read("id,x,y,note\n" + rows.replace("\n", ",a\n"), "csv")] == expected


def test_plain_integer_ids_keep_the_csv_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_rows(*args: object, **kwargs: object) -> None:
        raise AssertionError("the row-by-row reader was used")

    monkeypatch.setattr(csv_reader, "_csv_rows", no_rows)
    data = "id,x,y\n" + "".join(f"{i * 7 - 50},{i}.5,{i}e1\n" for i in range(1000))
    assert [p["id"] for p in read(data, "csv")] == [i * 7 - 50 for i in range(1000)]
    # ".5" and "007" are no JSON numbers: numpy reads that block.
    assert [p["id"] for p in read(data + "-007,.5,1\n", "csv")] == [i * 7 - 50 for i in range(1000)] + [-7]


def test_csv_ids_past_2_to_the_53_are_exact_on_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # orjson reads numbers through float64, where 2**53 + 1 is 2**53: the ids come from their text.
    ids = [2**53 - 1, 2**53, 2**53 + 1, 2**63 - 1, -(2**63)]
    rows = "".join(f"{i},1,2\n" for i in ids)
    slow = read("id,x,y,note\n" + rows.replace("\n", ",a\n"), "csv")

    def no_rows(*args: object, **kwargs: object) -> None:
        raise AssertionError("the row-by-row reader was used")

    monkeypatch.setattr(csv_reader, "_csv_rows", no_rows)
    assert [p["id"] for p in read("id,x,y\n" + rows, "csv")] == [p["id"] for p in slow] == ids


@pytest.mark.parametrize("cells", ["true,false", "1,null", "false,1"])
def test_json_literals_are_no_csv_coordinates_on_any_path(cells: str) -> None:
    for header in ("x,y", "x,y,note"):
        row = cells if header == "x,y" else f"{cells},a"
        with pytest.raises(ImportFileError, match=r"^line 2: column “[xy]” is not a number: '(true|false|null)'$"):
            read(f"{header}\n{row}\n", "csv")


def test_csv_ids_beyond_64_bits_are_refused_with_advice_that_works_in_csv() -> None:
    advice = (
        "is too large for a 64-bit integer; an id of digits is read as an integer: to keep such ids, "
        "give them a character other than a digit (such as a prefix)"
    )
    # In a block the fast path reads with numpy (".5" is no JSON number) and one it reads with orjson.
    for data in ("id,x,y\n9223372036854775808,.5,1\n", "id,x,y,n\n9223372036854775808,1,1,a\n"):
        with pytest.raises(ImportFileError, match=f"^line 2: id 9223372036854775808 {re.escape(advice)}$"):
            read(data, "csv")
    assert "quote" not in advice
    assert [p["id"] for p in read("id,x,y\nn9223372036854775808,.5,1\n", "csv")] == ["n9223372036854775808"]


def test_json_ids_keep_their_json_type_and_non_integer_numbers_are_refused() -> None:
    lines = '{"id": 7, "pt": [1, 1]}\n{"id": "7", "pt": [2, 2]}\n{"id": "1.0", "pt": [3, 3]}\n'
    assert [p["id"] for p in read(lines, "ndjson")] == [7, "7", "1.0"]
    written = "written with a fraction or an exponent): write it as an integer, or quote it to keep it as a string"
    for text, shown in (("1.0", "1.0"), ("1e3", "1000.0"), ("-2.5", "-2.5")):
        message = f"line 2: id {shown} is a number but not an integer ({written}"
        with pytest.raises(ImportFileError, match=f"^{re.escape(message)}$"):
            read('{"id": 1, "pt": [1, 1]}\n{"id": ' + text + ', "pt": [2, 2]}\n', "ndjson")
        doc = {"type": "Feature", "id": 0, "geometry": {"type": "Point", "coordinates": [1, 1]}}
        geojson = json.dumps({"type": "FeatureCollection", "features": [doc]}).replace('"id": 0', '"id": ' + text)
        with pytest.raises(ImportFileError, match=f"^feature 1: id {re.escape(shown)} is a number but not an"):
            read(geojson, "geojson")
    with pytest.raises(ImportFileError, match=r"^line 1: id 18446744073709551616 .*; quote it to keep it as a string$"):
        read('{"id": 18446744073709551616, "pt": [2, 2]}\n', "ndjson")


@pytest.mark.parametrize("name", ["id", "pt", "_id"])
def test_feature_properties_with_reserved_names_are_refused_per_row(name: str) -> None:
    message = f"feature 2: a property may not be named {name!r} (a name the points use themselves)"
    data = features({"a": 1}, {name: 5, "b": 2}, {"a": 3})
    with pytest.raises(ImportFileError, match=f"^{re.escape(message)}$"):
        read(data, "geojson")
    xs, options = imported(data, "geojson")
    assert xs == [1.0, 3.0] and options.report.rejected == 1 and options.report.errors == [message]
    # A Feature on an NDJSON line the same way.
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 1]}, "properties": {name: 5}}
    with pytest.raises(ImportFileError, match=f"^line 1: a property may not be named {name!r}"):
        read(json.dumps(feature) + "\n", "ndjson")


def test_an_integer_beyond_64_bits_stops_a_geojson_file_with_advice() -> None:
    # yajl (ijson's parser) reads integers as 64-bit ones: it cannot go on, so no row error here.
    data = features({"a": 1}, {"a": 2}).replace(b'"a":2', b'"a":9223372036854775808')
    message = "after feature 1: an integer beyond 64 bits, which the GeoJSON reader cannot read; quote it"
    for skip in (False, True):
        with pytest.raises(ImportFileError, match=f"^{message} to keep it as a string$"):
            read(data, "geojson", skip_bad_rows=skip)
