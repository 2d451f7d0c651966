"""The OpenAPI 3.1 description of the API, served at /api/openapi.json.

Written by hand, with its names, patterns and enums taken from the code that decides them;
tests/test_openapi.py holds every endpoint's real answers against it, and fails on a status,
header or field the document does not describe (or describes and no answer has).
"""

from __future__ import annotations

from typing import Any

from points.batches import Format
from points.models import DatasetStatus, ImportJob
from points.rules import NAME_PATTERN, GeometryKind
from points.schema import ColumnType
from points.streams import CONTENT_TYPES, EXTENSIONS

_ERROR = {"$ref": "#/components/schemas/Error"}
_NDJSON = {
    CONTENT_TYPES[Format.NDJSON]: {
        "schema": {"$ref": "#/components/schemas/StreamLine"},
        "example": '{"id":0,"pt":[0.0,0.0]}\n{"id":1,"pt":[0.0,1.0]}\n{"end":true,"count":2}\n',
    }
}
_ARROW = {
    CONTENT_TYPES[Format.ARROW]: {
        "schema": {
            "type": "string",
            "format": "binary",
            "description": (
                "An Arrow IPC stream: schema (id int64 or utf8, x and y float64, then the properties as typed "
                "columns), record batches, then a record batch with no rows whose custom metadata is "
                '{"end": "true", "count": "N"} or {"error": "...", "count": "N"}, then the end-of-stream marker.'
            ),
        }
    }
}
_CSV = {
    CONTENT_TYPES[Format.CSV]: {
        "schema": {
            "type": "string",
            "description": (
                "A header `id,x,y,<properties>` (`id,lon,lat,...` for spherical datasets), a row per point "
                "(RFC 4180 quoting, every string quoted; an empty field is a null), then a last line "
                "`# end count=N` (complete only if N equals the rows above it) or `# error count=N: message`."
            ),
        },
        "example": 'id,x,y,name\n0,0.5,1.5,"a, b"\n# end count=1\n',
    }
}
_GEOJSON = {
    CONTENT_TYPES[Format.GEOJSON]: {
        "schema": {
            "type": "string",
            "description": (
                "A FeatureCollection of Point features, one a line, ending "
                '`],"pointsite":{"end":true,"count":N}}`; a stream the server could not finish closes the '
                'array, ends with the line `"pointsite":{"error":"...","count":N}` and is invalid JSON.'
            ),
        },
        "example": (
            '{"type":"FeatureCollection","features":[\n{"type":"Feature","id":0,"geometry":{"type":"Point",'
            '"coordinates":[0.5,1.5]},"properties":{}}\n],"pointsite":{"end":true,"count":1}}\n'
        ),
    }
}
_FORMAT = {
    "name": "format",
    "in": "query",
    "required": False,
    "description": (
        "The stream's format (csv and geojson are exports); without it, the Accept header decides: of "
        "application/x-ndjson, application/vnd.apache.arrow.stream, text/csv and application/geo+json the "
        "highest q wins (ties in that order), NDJSON when none is named."
    ),
    "schema": {"enum": [f.value for f in Format], "default": Format.NDJSON.value},
}
_DOWNLOAD = {
    "name": "download",
    "in": "query",
    "required": False,
    "description": (
        '`1` or `true`: add `Content-Disposition: attachment; filename="<dataset>.<ext>"` (`<dataset>-selection` '
        "for within; ext ndjson, arrows, csv or geojson). `0`, `false` or absent: none; anything else is a 400."
    ),
    "schema": {"enum": ["0", "1", "false", "true"], "default": "0"},
}
_AREA_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Area"}},
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "required": ["geometry"],
                "properties": {"geometry": {"type": "string", "description": "The Area as GeoJSON text."}},
            },
        },
    },
    "description": (
        "The polygon as JSON, or an HTML form's body with the polygon's GeoJSON text in the field `geometry` "
        "(same limits and errors). A URL-encoded body that starts with `{` is read as the bare JSON (curl -d)."
    ),
}
_ACCEPT_ENCODING = {
    "name": "Accept-Encoding",
    "in": "header",
    "required": False,
    "description": (
        "zstd or gzip compress the stream (q-values honoured, zstd wins ties); identity when neither is "
        "acceptable; 406 when identity is excluded too."
    ),
    "schema": {"type": "string", "examples": ["zstd", "gzip", "gzip, deflate, br, zstd"]},
}
_CONTENT_ENCODING = {
    "description": "`zstd` or `gzip` when the body is compressed (absent when it is not).",
    "schema": {"enum": ["zstd", "gzip"]},
}
_STREAM_HEADERS = {
    "X-Dataset-Count": {
        "description": "Points in the whole dataset (for progress).",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    },
    "X-Accel-Buffering": {
        "description": "Always `no`: proxies must pass the stream on as it comes.",
        "required": True,
        "schema": {"const": "no"},
    },
    "Cache-Control": {
        "description": "Always `no-store`: a stream is of the points served now.",
        "required": True,
        "schema": {"const": "no-store"},
    },
    "Content-Encoding": _CONTENT_ENCODING,
    "Vary": {"description": "`Accept, Accept-Encoding`.", "required": True, "schema": {"type": "string"}},
    "Content-Disposition": {
        "description": '`attachment; filename="..."` when `download` asks for it (absent otherwise).',
        "schema": {
            "type": "string",
            "pattern": f'^attachment; filename="{NAME_PATTERN.strip("^$")}(-selection)?\\.'
            f'({"|".join(EXTENSIONS.values())})"$',
        },
    },
}
_COUNT = {
    "description": "How many points the stream would send.",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["count"],
                "properties": {"count": {"type": "integer", "minimum": 0}},
            },
            "example": {"count": 949316},
        }
    },
}
_NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": "The dataset's name (any other text is a 404).",
    "schema": {"type": "string", "pattern": NAME_PATTERN},
}


_ERROR_WORDS = {
    400: "The polygon, the `format`, `download` or a grid parameter is invalid; `error` says what and where.",
    401: "POINTS_API_TOKEN is set and the request has neither the token nor a logged-in session.",
    404: "No dataset of that name (for a stream, a count or an overview, also: the point store holds none of its "
    "points, as when they were lost).",
    406: "Accept-Encoding excludes every coding the response has (identity included).",
    409: "The dataset is importing or its import failed.",
    411: "The polygon came as a chunked body without Content-Length, which is not read: send its length.",
    413: "The body is over POINTS_MAX_BODY_BYTES (three times that for a URL-encoded form).",
    500: "The point store refused the request, saying why (as when the dataset's points are of another geometry "
    "kind than the dataset says), or an internal error (a generic message; the failure is logged).",
    503: "The point store is unreachable (with `Retry-After`), cannot be opened as configured, or cannot read this "
    "dataset's files; `error` says which.",
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before asking again (when the store's server is out of reach).",
        "schema": {"type": "integer", "minimum": 0},
    }
}
_WWW_AUTHENTICATE = {
    "WWW-Authenticate": {
        "description": '`Bearer realm="pointsite"`.',
        "required": True,
        "schema": {"type": "string", "pattern": "^Bearer "},
    }
}


_ERROR_HEADERS = {401: _WWW_AUTHENTICATE, 503: _RETRY_AFTER}


def _errors(*codes: int) -> dict[str, Any]:
    """Return the responses for these error statuses, each an `Error`."""
    return {
        str(c): {
            "description": _ERROR_WORDS[c],
            **({"headers": _ERROR_HEADERS[c]} if c in _ERROR_HEADERS else {}),
            "content": {"application/json": {"schema": _ERROR}},
        }
        for c in codes
    }


def openapi_document() -> dict[str, Any]:
    """Return the OpenAPI document: every GET with its HEAD (the same parameters, statuses and headers, no body)."""
    document = _document()
    for operations in document["paths"].values():
        get = operations.get("get")
        if get is not None:
            operations["head"] = {
                "summary": f"{get['summary']}: the headers only",
                "operationId": get["operationId"] + "Head",
                **({"parameters": get["parameters"]} if "parameters" in get else {}),
                "responses": {
                    status: {k: v for k, v in response.items() if k != "content"}
                    for status, response in get["responses"].items()
                },
            }
    return document


def _document() -> dict[str, Any]:
    stream = {
        "description": (
            "NDJSON (point lines, then one end line, or an error line if the server failed midway), Arrow, "
            "CSV or GeoJSON, compressed as negotiated; the end and error markers are inside the compressed data."
        ),
        "headers": _STREAM_HEADERS,
        "content": {**_NDJSON, **_ARROW, **_CSV, **_GEOJSON},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "pointsite",
            "version": "1.0.0",
            "description": (
                "Stream large point datasets as NDJSON or Arrow, compressed with zstd or gzip: all points, "
                "or those inside a polygon. Every error is JSON (`Error`): a path not listed here is a 404, "
                "a method a path does not list is a 405 (`MethodNotAllowed`) whose `Allow` header and "
                "`allowed` list name those it takes, and an internal error is a 500 with a generic message."
            ),
        },
        "paths": {
            "/api/datasets": {
                "get": {
                    "summary": "List the datasets",
                    "operationId": "listDatasets",
                    "responses": {
                        "200": {
                            "description": "The datasets.",
                            "content": {
                                "application/json": {
                                    "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Dataset"}}
                                }
                            },
                        },
                        **_errors(401),
                    },
                }
            },
            "/api/datasets/{name}": {
                "get": {
                    "summary": "Describe one dataset",
                    "description": (
                        "The dataset as the list describes it, with each property's statistics where the point "
                        "store kept them at import: `values` (points with a value); for numbers `min` and "
                        "`max`; for strings and booleans `top` (the most common values, up to 20, most common "
                        "first) and `distinct` (null when there were more than 10,000 distinct values, or strings "
                        "over 200 characters, which are not tallied: `top` is then approximate, of the 10,000 most "
                        "common when the limit was passed)."
                    ),
                    "operationId": "getDataset",
                    "parameters": [_NAME],
                    "responses": {
                        "200": {
                            "description": "The dataset.",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Dataset"}}},
                        },
                        **_errors(401, 404),
                    },
                }
            },
            "/api/datasets/{name}/points": {
                "get": {
                    "summary": "Stream every point of a dataset",
                    "operationId": "streamPoints",
                    "parameters": [_NAME, _FORMAT, _DOWNLOAD, _ACCEPT_ENCODING],
                    "responses": {"200": stream, **_errors(400, 401, 404, 406, 409, 503)},
                }
            },
            "/api/datasets/{name}/points/within": {
                "post": {
                    "summary": "Stream the points inside a polygon",
                    "description": (
                        "Boundaries are closed: a point on an outer ring is inside, a point on a hole's ring is "
                        "outside. Planar datasets use straight edges; spherical (lon/lat) datasets use geodesic "
                        "edges, and each polygon must fit within a hemisphere. Rings must be closed (first "
                        "position repeated last), with 2-number positions."
                    ),
                    "operationId": "streamPointsWithin",
                    "parameters": [_NAME, _FORMAT, _DOWNLOAD, _ACCEPT_ENCODING],
                    "requestBody": _AREA_BODY,
                    "responses": {"200": stream, **_errors(400, 401, 404, 406, 409, 411, 413, 500, 503)},
                }
            },
            "/api/datasets/{name}/points/count": {
                "get": {
                    "summary": "Count the points of a dataset",
                    "operationId": "countPoints",
                    "parameters": [_NAME],
                    "responses": {"200": _COUNT, **_errors(401, 404, 409, 503)},
                },
                "post": {
                    "summary": "Count the points inside a polygon",
                    "description": (
                        "Exactly the number of points `POST …/points/within` would send for the same body, with "
                        "the same errors. The embedded store counts the blocks wholly inside the polygon from "
                        "its index and reads only those on its edge; MongoDB reads every candidate point's "
                        "coordinates, as a stream would."
                    ),
                    "operationId": "countPointsWithin",
                    "parameters": [_NAME],
                    "requestBody": _AREA_BODY,
                    "responses": {"200": _COUNT, **_errors(400, 401, 404, 409, 411, 413, 500, 503)},
                },
            },
            "/api/datasets/{name}/overview": {
                "get": {
                    "summary": "A density grid of the dataset's points",
                    "description": (
                        "Cell (r, c) counts the points with `bbox[0] + c*dx <= x < bbox[0] + (c+1)*dx` and "
                        "`bbox[1] + r*dy <= y < bbox[1] + (r+1)*dy` (dx = (bbox[2] - bbox[0]) / width, dy "
                        "likewise), the last column and row closed, as numpy.histogram2d counts with those "
                        "edges. `counts` is row-major, row 0 at the lowest y; points outside the bbox are not "
                        "counted. Compressed (zstd or gzip) when Accept-Encoding allows."
                    ),
                    "operationId": "overview",
                    "parameters": [
                        _NAME,
                        {
                            "name": "width",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 2048, "default": 256},
                        },
                        {
                            "name": "height",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 2048, "default": 256},
                        },
                        {
                            "name": "bbox",
                            "in": "query",
                            "required": False,
                            "description": "min_x,min_y,max_x,max_y; the dataset's bounds by default.",
                            "schema": {"type": "string", "examples": ["0,0,500,250"]},
                        },
                        _ACCEPT_ENCODING,
                    ],
                    "responses": {
                        "200": {
                            "description": "The grid.",
                            "headers": {
                                "Content-Encoding": _CONTENT_ENCODING,
                                "Vary": {
                                    "description": "`Accept-Encoding`.",
                                    "required": True,
                                    "schema": {"type": "string"},
                                },
                            },
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Overview"}}},
                        },
                        **_errors(400, 401, 404, 406, 409, 503),
                    },
                }
            },
            "/api/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "openapi",
                    "responses": {
                        "200": {
                            "description": "The OpenAPI document (never behind POINTS_API_TOKEN).",
                            "content": {
                                "application/json": {
                                    "schema": {"type": "object", "required": ["openapi", "info", "paths"]}
                                }
                            },
                        }
                    },
                }
            },
        },
        "security": [{}, {"bearer": []}],
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Only when the deployment sets POINTS_API_TOKEN.",
                }
            },
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
                "MethodNotAllowed": {
                    "description": "The 405 for a method a path does not list (its `Allow` header names the same).",
                    "type": "object",
                    "required": ["error", "allowed"],
                    "properties": {
                        "error": {"type": "string"},
                        "allowed": {"type": "array", "items": {"enum": ["GET", "HEAD", "POST"]}},
                    },
                },
                "Overview": {
                    "type": "object",
                    "required": ["bbox", "width", "height", "counts"],
                    "properties": {
                        "bbox": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
                        "width": {"type": "integer"},
                        "height": {"type": "integer"},
                        "counts": {"type": "array", "items": {"type": "integer"}},
                    },
                },
                "Dataset": {
                    "type": "object",
                    "required": [
                        "name",
                        "title",
                        "description",
                        "geometry",
                        "count",
                        "bounds",
                        "status",
                        "status_message",
                        "importing",
                        "job",
                        "progress",
                        "attached",
                        "created",
                        "updated",
                        "properties",
                    ],
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string", "pattern": NAME_PATTERN},
                        "title": {"type": "string"},
                        "description": {"type": "string"},
                        "geometry": {"enum": [k.value for k in GeometryKind]},
                        "count": {"type": "integer", "minimum": 0},
                        "bounds": {
                            "oneOf": [
                                {"type": "null"},
                                {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
                            ]
                        },
                        "status": {
                            "enum": [s.value for s in DatasetStatus],
                            "description": "What is served: `importing` only while a dataset that never had points "
                            "is imported (409); a replaced dataset stays `ready`, serving its previous points.",
                        },
                        "status_message": {"type": "string"},
                        "importing": {
                            "type": "boolean",
                            "description": "An import of the dataset is queued or running (see `progress`).",
                        },
                        "job": {
                            "enum": [j.value for j in ImportJob],
                            "description": "The import in progress: queued (waiting for the task worker), running, "
                            "or none.",
                        },
                        "progress": {
                            "type": "number",
                            "minimum": 0,
                            "maximum": 1,
                            "description": "How far the current or last import came, 0 to 1 (rounded to 4 places): "
                            "below 1 while one is queued or running, 1 once it published its points.",
                        },
                        "attached": {
                            "oneOf": [{"type": "null"}, {"type": "string"}],
                            "description": "For a dataset attached over a MongoDB collection users already had "
                            "(`manage.py attach_collection`), that collection as `db.collection`: its points are "
                            "read from there and never written; null for imported datasets.",
                        },
                        "created": {"type": "string", "format": "date-time"},
                        "updated": {"type": "string", "format": "date-time"},
                        "properties": {
                            "oneOf": [
                                {"type": "null"},
                                {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["name", "type"],
                                        "properties": {
                                            "name": {"type": "string"},
                                            "type": {"enum": [t.value for t in ColumnType]},
                                            "values": {"type": "integer", "description": "Detail only."},
                                            "min": {"type": ["number", "null"], "description": "Detail only."},
                                            "max": {"type": ["number", "null"], "description": "Detail only."},
                                            "top": {
                                                "type": "array",
                                                "description": "Detail only.",
                                                "items": {
                                                    "type": "object",
                                                    "required": ["value", "count"],
                                                    "properties": {
                                                        "value": {"type": ["string", "boolean"]},
                                                        "count": {"type": "integer"},
                                                    },
                                                },
                                            },
                                            "distinct": {"type": ["integer", "null"], "description": "Detail only."},
                                        },
                                    },
                                },
                            ],
                            "description": "The properties of the points served and their column types, as learnt "
                            "at import (in first-seen order); null while no points are served, or when the point "
                            "store cannot be reached.",
                        },
                    },
                },
                "Position": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
                "Ring": {"type": "array", "items": {"$ref": "#/components/schemas/Position"}, "minItems": 4},
                "Polygon": {
                    "type": "object",
                    "required": ["type", "coordinates"],
                    "properties": {
                        "type": {"const": "Polygon"},
                        "coordinates": {"type": "array", "items": {"$ref": "#/components/schemas/Ring"}, "minItems": 1},
                    },
                },
                "MultiPolygon": {
                    "type": "object",
                    "required": ["type", "coordinates"],
                    "properties": {
                        "type": {"const": "MultiPolygon"},
                        "coordinates": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Ring"}, "minItems": 1},
                        },
                    },
                },
                "Area": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/Polygon"},
                        {"$ref": "#/components/schemas/MultiPolygon"},
                        {
                            "type": "object",
                            "required": ["type", "geometry"],
                            "properties": {
                                "type": {"const": "Feature"},
                                "geometry": {
                                    "oneOf": [
                                        {"$ref": "#/components/schemas/Polygon"},
                                        {"$ref": "#/components/schemas/MultiPolygon"},
                                    ]
                                },
                            },
                        },
                    ]
                },
                "StreamLine": {
                    "oneOf": [
                        {
                            "title": "point",
                            "type": "object",
                            "required": ["id", "pt"],
                            "properties": {
                                "id": {"type": ["integer", "string"]},
                                "pt": {"$ref": "#/components/schemas/Position"},
                            },
                            "additionalProperties": True,
                        },
                        {
                            "title": "end",
                            "type": "object",
                            "required": ["end", "count"],
                            "properties": {"end": {"const": True}, "count": {"type": "integer"}},
                        },
                        {
                            "title": "error",
                            "type": "object",
                            "required": ["error", "count"],
                            "properties": {"error": {"type": "string"}, "count": {"type": "integer"}},
                        },
                    ]
                },
            },
        },
    }
