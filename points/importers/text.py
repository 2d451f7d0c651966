"""A file's bytes as the readers take them: its start checked (UTF-8, a BOM dropped, UTF-16
refused), then lines one by one (the row readers) or blocks of whole lines (the fast paths).
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterator
from typing import IO, Any

from points.importers.shared import MAX_LINE_BYTES, ImportFileError

UTF16_MESSAGE = "UTF-16 is not supported; save as UTF-8"

_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32 is not supported; save as UTF-8"),
    (codecs.BOM_UTF32_BE, "UTF-32 is not supported; save as UTF-8"),
    (codecs.BOM_UTF16_LE, UTF16_MESSAGE),
    (codecs.BOM_UTF16_BE, UTF16_MESSAGE),
)


def text_start(binary: IO[bytes]) -> IO[bytes]:
    """Return the file from its first byte of text: a UTF-8 BOM dropped, UTF-16 and UTF-32 refused."""
    head = binary.read(4096)
    for bom, message in _BOMS:
        if head.startswith(bom):
            raise ImportFileError(message)
    # Without a BOM, UTF-16 shows as ASCII text with a NUL before or after every character.
    if len(head) >= 4 and (
        (head[0] and head[2] and not head[1] and not head[3]) or (head[1] and head[3] and not head[0] and not head[2])
    ):
        raise ImportFileError(UTF16_MESSAGE)
    return prefixed(head.removeprefix(codecs.BOM_UTF8), binary)


def text_lines(binary: IO[bytes], first_line: int = 1) -> Iterator[str]:
    """Yield the file's lines as text (UTF-8, BOM dropped), refusing over-long lines and binary data."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    number = first_line - 1
    while True:
        raw = binary.readline(MAX_LINE_BYTES + 1)
        if not raw:
            break
        number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            raise ImportFileError(f"line {number}: longer than {MAX_LINE_BYTES:,} bytes; is this a point file?")
        if b"\x00" in raw:
            raise ImportFileError(f"line {number}: contains NUL bytes; this is not a text file")
        try:
            yield decoder.decode(raw)
        except UnicodeDecodeError as exc:
            raise ImportFileError(f"line {number}: not valid UTF-8 ({exc.reason})") from None


class FastBlocks:
    """Yields (block, first line number) of whole lines, about BLOCK_BYTES each (a fast path's
    input); when the fast path gives up, leftover() and the rest of the file go to the row reader."""

    BLOCK_BYTES = 1 << 22

    def __init__(self, binary: IO[bytes], first_line: int) -> None:
        self.binary = binary
        self.line = first_line
        self._left = b""

    def leftover(self) -> bytes:
        left, self._left = self._left, b""
        return left

    def __iter__(self) -> Iterator[tuple[bytes, int]]:
        while True:
            data = self._left + self.binary.read(self.BLOCK_BYTES)
            if not data:
                return
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                if len(data) > MAX_LINE_BYTES:
                    # One huge line: hand it over so the row reader reports it with its number.
                    yield data, self.line
                    return
                more = self.binary.read(self.BLOCK_BYTES)
                if more:
                    self._left = data + more
                    continue
                cut = len(data)  # the last line has no newline
            block, self._left = data[:cut], data[cut:]
            first = self.line
            self.line += block.count(b"\n")
            yield block, first


class _Prefixed(io.RawIOBase):
    """A binary stream that first returns `head`, then the rest of `tail`."""

    def __init__(self, head: bytes, tail: IO[bytes]) -> None:
        self.head = memoryview(head)
        self.pos = 0
        self.tail = tail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self.pos < len(self.head):
            n = min(len(view), len(self.head) - self.pos)
            view[:n] = self.head[self.pos : self.pos + n]
            self.pos += n
            return n
        data = self.tail.read(len(view))
        view[: len(data)] = data
        return len(data)


def prefixed(head: bytes, tail: IO[bytes]) -> IO[bytes]:
    """Return a buffered stream of `head` followed by the rest of `tail`."""
    return io.BufferedReader(_Prefixed(head, tail), buffer_size=1 << 16)
