"""Nesting bounded before any parser sees it: a GeoJSON file or an NDJSON line may nest arrays and
objects at most MAX_JSON_DEPTH deep, checked on the bytes (numpy, ~120 MB/s).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from points.batches import IntArray
from points.importers.shared import ImportFileError, RowError

# The deepest nesting of arrays and objects a GeoJSON file or an NDJSON line may have. In a
# FeatureCollection a Point's coordinates are 5 levels deep and a property's value starts at the
# 5th, which leaves properties ~60 levels of their own. Checked on the bytes before any parser
# sees them: ijson's memory grows with the square of the depth (+240 MB for 10,000 levels in 20 KB,
# +3.8 GB for 40,000 in 80 KB), msgspec's recursion limit would end an NDJSON import in a crash.
MAX_JSON_DEPTH = 64


@dataclass
class DepthScan:
    """Follows how deeply the JSON text fed to it nests, across pieces, and says where it first
    nests deeper than `limit` (brackets inside strings do not count). numpy, ~120 MB/s: a small
    part of parsing GeoJSON (~9 MB/s)."""

    PIECE_BYTES = 1 << 16  # fed in pieces of at most this, so its arrays stay small (~2 MB)

    limit: int = MAX_JSON_DEPTH
    depth: int = 0
    in_string: bool = False
    escaped: bool = False  # the previous piece ended in an unfinished escape (an odd run of backslashes)
    offset: int = 0  # bytes fed so far

    def feed(self, data: bytes) -> int | None:
        """Take the next bytes; return the offset in them of the first byte too deep, or None."""
        for at in range(0, len(data), self.PIECE_BYTES):
            where = self._feed(data[at : at + self.PIECE_BYTES])
            if where is not None:
                self.offset -= at
                return at + where
        return None

    def _feed(self, data: bytes) -> int | None:
        start = self.offset
        self.offset += len(data)
        if not data:
            return None
        kinds = np.frombuffer(data.translate(_JSON_BYTE_KINDS), dtype=np.uint8)
        marks = (kinds != 0).nonzero()[0]  # the few bytes that matter: brackets, quotes, backslashes
        kind = kinds[marks]
        quotes = marks[kind == _QUOTE]
        slashes = marks[kind == _BACKSLASH]
        if len(slashes) or self.escaped:
            quotes = self._unescaped(quotes, slashes, len(data))
        brackets = marks[(kind == _OPEN) | (kind == _CLOSE)]
        # Brackets outside strings: an even count of real quotes before them (given the state at the start).
        outside = (np.searchsorted(quotes, brackets) + self.in_string) % 2 == 0
        brackets = brackets[outside]
        depths = self.depth + np.cumsum(np.where(kinds[brackets] == _OPEN, 1, -1))
        self.in_string = bool((len(quotes) + self.in_string) % 2)
        if len(depths):
            self.depth = int(depths[-1])
            too_deep = np.flatnonzero(depths > self.limit)
            if len(too_deep):
                self.offset = start  # stays where it failed
                return int(brackets[too_deep[0]])
        return None

    def _unescaped(self, quotes: IntArray, slashes: IntArray, size: int) -> IntArray:
        """Return the quotes not escaped: not just after an odd run of backslashes (a run that
        starts the piece continues the last one's), and note whether the piece ends mid-escape."""
        breaks = np.flatnonzero(np.diff(slashes) != 1) + 1
        starts = slashes[np.concatenate(([0], breaks))] if len(slashes) else slashes
        ends = slashes[np.concatenate((breaks - 1, [len(slashes) - 1]))] + 1 if len(slashes) else slashes
        lengths = ends - starts
        if self.escaped:
            if len(starts) and starts[0] == 0:
                lengths[0] += 1
            else:  # the piece's first byte is the one escaped
                starts, ends, lengths = (np.concatenate(([0], a)) for a in (starts, ends, lengths))
                ends[0], lengths[0] = 0, 1
        odd_ends = ends[lengths % 2 == 1]
        at = np.minimum(np.searchsorted(odd_ends, quotes), max(len(odd_ends) - 1, 0))
        escaped = odd_ends[at] == quotes if len(odd_ends) else np.zeros(len(quotes), dtype=bool)
        self.escaped = bool(len(ends) and ends[-1] == size and lengths[-1] % 2)
        return quotes[~escaped]


_OPEN, _CLOSE, _QUOTE, _BACKSLASH = 1, 2, 3, 4
# bytes.translate table: each byte that matters to the depth to its kind, every other one to 0.
_KIND_OF = {b"["[0]: _OPEN, b"{"[0]: _OPEN, b"]"[0]: _CLOSE, b"}"[0]: _CLOSE, b'"'[0]: _QUOTE, b"\\"[0]: _BACKSLASH}
_JSON_BYTE_KINDS = bytes(_KIND_OF.get(b, 0) for b in range(256))


class DepthChecked(io.RawIOBase):
    """A binary stream of `source` that refuses, before anyone parses them, bytes nesting deeper than MAX_JSON_DEPTH."""

    def __init__(self, source: IO[bytes]) -> None:
        self.source = source
        self.scan = DepthScan()
        self.line = 1

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.source.read(min(len(view), DepthScan.PIECE_BYTES))
        where = self.scan.feed(data)
        if where is not None:
            line = self.line + data.count(b"\n", 0, where)
            raise ImportFileError(
                f"line {line} (byte {self.scan.offset + where + 1:,}): arrays and objects nested more than "
                f"{MAX_JSON_DEPTH} deep; a point file needs far fewer"
            )
        self.line += data.count(b"\n")
        view[: len(data)] = data
        return len(data)


def line_too_deep(line: str, where: str) -> None:
    """Refuse a JSON line nesting deeper than MAX_JSON_DEPTH (a cheap count first: most lines cannot)."""
    if line.count("[") + line.count("{") <= MAX_JSON_DEPTH:
        return
    data = line.encode()
    at = DepthScan().feed(data)
    if at is not None:
        raise RowError(
            f"{where}: arrays and objects nested more than {MAX_JSON_DEPTH} deep (at character "
            f"{len(data[:at].decode(errors='replace')) + 1:,}); a point needs far fewer"
        )
