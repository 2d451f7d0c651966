"""zstd frames and gzip from raw-deflate pieces: what standard decoders make of them."""

from __future__ import annotations

import gzip
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from points import codings

parts = st.lists(st.binary(max_size=3000), min_size=1, max_size=8)


@given(parts)
def test_crc32_combine_equals_the_crc_of_the_concatenation(pieces: list[bytes]) -> None:
    crc = 0
    for piece in pieces:
        crc = codings.crc32_combine(crc, zlib.crc32(piece), len(piece))
    assert crc == zlib.crc32(b"".join(pieces))


@given(parts)
def test_deflate_pieces_make_one_gzip_member(pieces: list[bytes]) -> None:
    crc, size = 0, 0
    body = codings.GZIP_HEADER
    for piece in pieces:
        body += codings.deflate_piece(piece)
        crc = codings.crc32_combine(crc, zlib.crc32(piece), len(piece))
        size += len(piece)
    body += codings.gzip_trailer(crc, size)
    assert gzip.decompress(body) == b"".join(pieces)  # checks the CRC and the size too
    assert codings.inflate_pieces(body[len(codings.GZIP_HEADER) : -10]) == b"".join(pieces)


@given(parts)
def test_zstd_frames_concatenate(pieces: list[bytes]) -> None:
    assert codings.unzstd(b"".join(codings.zstd_frame(p) for p in pieces)) == b"".join(pieces)


def test_a_wrong_trailer_is_caught_by_gzip() -> None:
    body = codings.GZIP_HEADER + codings.deflate_piece(b"abc") + codings.gzip_trailer(zlib.crc32(b"abd"), 3)
    with pytest.raises(gzip.BadGzipFile, match="CRC check failed"):
        gzip.decompress(body)
