"""The block files of one dataset version: layout 3, its one definition.

A version is a directory holding one file per *section*. Every block (at most BLOCK_POINTS
points, consecutive in Z-order) has one extent in each section, and the blocks follow each other
in the same order in every section:

    ndjson          the points' NDJSON lines
    ndjson.zst      the same lines as one zstd frame
    ndjson.deflate  the same lines as one raw-deflate piece (see points.codings)
    arrow           the points as one Arrow IPC record-batch message (id, x, y, properties)
    arrow.zst       that message as one zstd frame
    arrow.deflate   that message as one raw-deflate piece

so a stream in any format and coding reads one section, front to back (the kernel's readahead
works), and sends blocks wholly inside a polygon without decoding or compressing anything; only
blocks on a polygon's edge are read from `arrow` (their coordinates) and a plain section, and
compressed while streaming. Each extent carries the xxh3-64 digest of its bytes, checked on
every read: a damaged block ends a stream with an error, never with wrong points. The extents
follow each other from offset 0 with no gap, so the index also says each section's size, checked
when a stream opens it: a file cut, emptied or grown, or block rows gone from the index, are found
before the first byte (see index.check_blocks).
"""

from __future__ import annotations

import contextlib
import enum
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import xxhash

from points import codings
from points.batches import Coding, Format
from points.stores.base import StoreDamaged

LAYOUT_VERSION = 3
BLOCK_POINTS = 4096


class Section(enum.StrEnum):
    """One file of a dataset version (its value is the file's name)."""

    NDJSON = "ndjson"
    NDJSON_ZSTD = "ndjson.zst"
    NDJSON_GZIP = "ndjson.deflate"
    ARROW = "arrow"
    ARROW_ZSTD = "arrow.zst"
    ARROW_GZIP = "arrow.deflate"

    @property
    def column(self) -> str:
        """Return the prefix of this section's columns in the index."""
        return self.value.replace(".", "_")


SECTIONS: dict[tuple[Format, Coding], Section] = {
    (Format.NDJSON, Coding.IDENTITY): Section.NDJSON,
    (Format.NDJSON, Coding.ZSTD): Section.NDJSON_ZSTD,
    (Format.NDJSON, Coding.GZIP): Section.NDJSON_GZIP,
    (Format.ARROW, Coding.IDENTITY): Section.ARROW,
    (Format.ARROW, Coding.ZSTD): Section.ARROW_ZSTD,
    (Format.ARROW, Coding.GZIP): Section.ARROW_GZIP,
}
PLAIN = {Format.NDJSON: Section.NDJSON, Format.ARROW: Section.ARROW}


def digest(data: bytes) -> int:
    """Return the xxh3-64 digest of `data` as a signed 64-bit integer (as SQLite keeps it)."""
    value = xxhash.xxh3_64_intdigest(data)
    return value - (1 << 64) if value >= 1 << 63 else value


@dataclass(frozen=True, slots=True)
class Extent:
    """Where a block's bytes are in one section, and their digest."""

    pos: int
    size: int
    digest: int


@dataclass(frozen=True, slots=True)
class WrittenBlock:
    """What the index keeps of a block besides its box: its extents, and the length and CRC-32
    of its plain lines and message (a gzip stream's trailer is combined from them)."""

    extents: dict[Section, Extent]
    ndjson_crc: int
    arrow_crc: int


@dataclass(frozen=True, slots=True)
class EncodedBlock:
    """A block's bytes for each section, before they are written."""

    pieces: dict[Section, bytes]
    ndjson_crc: int
    arrow_crc: int


class VersionWriter:
    """Writes the blocks of one new dataset version into `directory` (which it creates)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir()
        self._files = {s: open(directory / s.value, "wb") for s in Section}  # noqa: SIM115 - closed in close()
        self._pos = dict.fromkeys(Section, 0)

    def _put(self, section: Section, data: bytes) -> Extent:
        self._files[section].write(data)
        extent = Extent(self._pos[section], len(data), digest(data))
        self._pos[section] += len(data)
        return extent

    @staticmethod
    def encode(lines: bytes, message: bytes) -> EncodedBlock:
        """Return a block's bytes for every section (thread-safe: the compressors release the
        GIL, so an import encodes blocks on every core)."""
        pieces = {
            Section.NDJSON: lines,
            Section.NDJSON_ZSTD: codings.zstd_frame(lines),
            Section.NDJSON_GZIP: codings.deflate_piece(lines),
            Section.ARROW: message,
            Section.ARROW_ZSTD: codings.zstd_frame(message),
            Section.ARROW_GZIP: codings.deflate_piece(message),
        }
        return EncodedBlock(pieces, zlib.crc32(lines), zlib.crc32(message))

    def add(self, block: EncodedBlock) -> WrittenBlock:
        """Append one encoded block to every section."""
        extents = {s: self._put(s, data) for s, data in block.pieces.items()}
        return WrittenBlock(extents, block.ndjson_crc, block.arrow_crc)

    def finish(self) -> None:
        """Flush every section to disk: the index must never name bytes that are not there."""
        for f in self._files.values():
            f.flush()
            os.fsync(f.fileno())
        self.close()
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        """Close the files (the directory stays; the caller removes it if the import failed)."""
        for f in self._files.values():
            f.close()


class DamagedBlock(StoreDamaged):
    """A dataset's stored blocks are not as written: a block's bytes (a short file, overwritten
    or zeroed bytes), a section's size, its grid file, or its rows in the index."""

    #: what is damaged, e.g. "block 3 of its ndjson file does not match its checksum"
    what: str = ""


def damaged(dataset: str, what: str) -> DamagedBlock:
    """Return the error saying what is damaged in `dataset` (the one wording of them all)."""
    error = DamagedBlock(f"dataset {dataset!r} is damaged ({what}); import it again")
    error.what = what
    return error


class VersionReader:
    """Reads blocks of one dataset version; opens sections on first use and holds them open,
    so a version deleted meanwhile is still read to the end (its files are unlinked, not cut).
    With `sizes` (each section's size as the index has it), a section of another size is refused
    as it is opened."""

    def __init__(self, directory: Path, dataset: str, sizes: dict[Section, int] | None = None) -> None:
        self.directory = directory
        self.dataset = dataset
        self.sizes = sizes
        self._fds: dict[Section, int] = {}

    def open(self, section: Section) -> None:
        """Open `section` now (raise FileNotFoundError if the version is gone, DamagedBlock if
        its size is not the index's)."""
        if section not in self._fds:
            fd = os.open(self.directory / section.value, os.O_RDONLY)
            if self.sizes is not None:
                size = os.fstat(fd).st_size
                if size != self.sizes[section]:
                    os.close(fd)
                    raise damaged(
                        self.dataset,
                        f"its {section.value} file is {size:,} bytes, its index says {self.sizes[section]:,}",
                    )
            self._fds[section] = fd

    def read(self, section: Section, extent: Extent, seq: int) -> bytes:
        """Return a block's bytes in `section`; raise DamagedBlock if they are not as written."""
        self.open(section)
        data = os.pread(self._fds[section], extent.size, extent.pos)
        if len(data) != extent.size or digest(data) != extent.digest:
            raise damaged(self.dataset, f"block {seq} of its {section.value} file does not match its checksum")
        return data

    def close(self) -> None:
        """Close every open section."""
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()
