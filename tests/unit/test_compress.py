"""Streaming gzip: deterministic, chunked, and read back transparently."""

from __future__ import annotations

import gzip
import io
import os

from storages.compress import GZIP_CONTENT_TYPES, GzipCompressingReader, gunzip_reader, should_gzip


def compress_all(data: bytes, read_size: int = -1) -> bytes:
    reader = GzipCompressingReader(io.BytesIO(data))
    if read_size < 0:
        return reader.read()
    return b"".join(iter(lambda: reader.read(read_size), b""))


def test_output_is_valid_gzip_and_identical_each_time():
    data = b"body { color: red }\n" * 5000 + os.urandom(1000)
    first, second = compress_all(data), compress_all(data, read_size=777)
    assert first == second
    assert gzip.decompress(first) == data
    assert len(first) < len(data)


def test_reads_return_at_most_what_was_asked():
    reader = GzipCompressingReader(io.BytesIO(os.urandom(100_000)))
    sizes = [len(chunk) for chunk in iter(lambda: reader.read(4096), b"")]
    assert max(sizes) <= 4096


def test_text_sources_are_encoded():
    assert gzip.decompress(GzipCompressingReader(io.StringIO("ünï")).read()) == "ünï".encode()


def test_gunzip_reader_streams():
    data = os.urandom(50_000)
    reader = gunzip_reader(io.BytesIO(gzip.compress(data)))
    assert reader.read(10) + reader.read() == data


def test_should_gzip():
    assert should_gzip("text/css", GZIP_CONTENT_TYPES)
    assert should_gzip("text/css; charset=utf-8", GZIP_CONTENT_TYPES)
    assert not should_gzip("image/png", GZIP_CONTENT_TYPES)
    assert not should_gzip(None, GZIP_CONTENT_TYPES)
