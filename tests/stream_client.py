"""How a client reads a pointsite stream in any format and coding, and tells complete from cut:
the tests' own reader, written from the documented format (README, points/arrow.py), not from
the server's code."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
import zstandard


@dataclass
class Outcome:
    """What a client learnt from a body: its points as (id, x, y, properties), and how it ended:
    'end' (complete, and the count matches), 'error' (the server's error marker), 'cut', or
    'invalid' (a line that is not JSON)."""

    points: list[tuple[Any, float, float, dict[str, Any]]] = field(default_factory=list)
    ended: str = "cut"
    message: str = ""


def decompress(data: bytes, coding: str) -> tuple[bytes, bool]:
    """Return what `data` decodes to and whether it decoded without error."""
    try:
        if coding == "zstd":
            out, rest = [], data
            while rest:
                d = zstandard.ZstdDecompressor().decompressobj()
                out.append(d.decompress(rest))
                rest = d.unused_data
            return b"".join(out), True
        if coding == "gzip":
            return zlib.decompressobj(31).decompress(data), True
    except (zstandard.ZstdError, zlib.error):
        return b"", False
    return data, True


def read_ndjson(text: bytes) -> Outcome:
    outcome = Outcome()
    lines = text.split(b"\n")
    complete, rest = lines[:-1], lines[-1]
    if rest:  # a last line without its newline was cut
        return outcome
    for line in complete:
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            return Outcome(outcome.points, "invalid")
        if "pt" in record:
            props = {k: v for k, v in record.items() if k not in ("id", "pt")}
            outcome.points.append((record["id"], record["pt"][0], record["pt"][1], props))
        elif record.get("end") is True:
            outcome.ended = "end" if record["count"] == len(outcome.points) else "cut"
        elif "error" in record:
            outcome.ended, outcome.message = "error", record["error"]
    return outcome


def read_arrow(data: bytes) -> Outcome:
    outcome = Outcome()
    try:
        reader = pa.ipc.open_stream(data)
        json_columns = {f.name for f in reader.schema if (f.metadata or {}).get(b"pointsite:json") == b"true"}
        last: dict[bytes, bytes] | None = None
        for batch, metadata in reader.iter_batches_with_custom_metadata():
            last = dict(metadata) if metadata is not None else None
            columns = batch.to_pydict()
            names = [n for n in columns if n not in ("id", "x", "y")]
            for i in range(batch.num_rows):
                props = {}
                for n in names:
                    v = columns[n][i]
                    if v is not None:
                        props[n] = json.loads(v) if n in json_columns else v
                outcome.points.append((columns["id"][i], columns["x"][i], columns["y"][i], props))
    except (pa.ArrowInvalid, OSError):
        return Outcome(outcome.points)
    if last and last.get(b"end") == b"true":
        outcome.ended = "end" if int(last[b"count"]) == len(outcome.points) else "cut"
    elif last and b"error" in last:
        outcome.ended, outcome.message = "error", last[b"error"].decode()
    return outcome


def read_body(data: bytes, fmt: str, coding: str) -> Outcome:
    """Read a whole (or cut) body as a client would."""
    plain, ok = decompress(data, coding)
    if not ok:
        return Outcome()
    return read_arrow(plain) if fmt == "arrow" else read_ndjson(plain)
