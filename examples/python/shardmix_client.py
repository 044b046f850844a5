"""Read a shardmix Arrow IPC stream and verify its trailer.

    from shardmix_client import open_stream
    with open_stream("tcp:127.0.0.1:7000") as stream:    # or "unix:/tmp/s.sock", "-", a file path
        for batch in stream:
            x, y = batch.features, batch.targets          # numpy float32, (n, F) and (n, C)
    # leaving the loop normally means the trailer was present and matched

The stream is a standard Arrow IPC stream: the schema, one record batch per pipeline batch,
then a zero-row *trailer* batch whose message custom metadata holds ``shardmix.trailer`` =
JSON ``{"rows", "batches", "checksum", "algorithm": "crc32-values"}``, then the
end-of-stream marker. ``checksum`` is zlib's CRC-32 chained over the data batches in order,
over the values of every feature and target column (all columns but the provenance ones), in
schema order: little-endian float32, or uint8 for ``--pixels uint8``; for a PNG image column
(``--image-out png``, a struct ``{bytes, path}``) the bytes of each row's PNG file. A stream without the trailer, with a mismatching one,
or without the end-of-stream marker raises :class:`TrailerError` at the end of iteration, so
a truncated stream can never pass for a complete one.

Features come zero-copy for a list layout (``FixedSizeList.values`` reshaped to (n, F));
a column layout is stacked into one (n, F) array (one copy).
"""

import json
import socket
import sys
import zlib
from typing import Iterator, NamedTuple, Optional

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

TRAILER_KEY = b"shardmix.trailer"
ALGORITHM = "crc32-values"
PROVENANCE = ("step", "origin", "row_a", "row_b", "lambda")
EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"


class TrailerError(Exception):
    """The stream is incomplete or does not match its trailer."""


class Batch(NamedTuple):
    """One pipeline batch."""

    features: np.ndarray  # float32 (n, F)
    targets: Optional[np.ndarray]  # float32 (n, C) or None
    record_batch: pa.RecordBatch  # everything, including provenance columns


class _TailTracker:
    """A read-only file wrapper that remembers the last 8 bytes read (for the EOS check)."""

    def __init__(self, raw):
        self._raw = raw
        self.tail = b""
        self.closed = False

    def read(self, n=-1):
        data = self._raw.read(n)
        if data:
            self.tail = (self.tail + bytes(data[-8:]))[-8:]
        return data

    def readable(self):
        return True

    def seekable(self):
        return False

    def writable(self):
        return False

    def close(self):
        self.closed = True


def _values(arr: pa.Array):
    """The values of a Float32 or FixedSizeList<Float32 | UInt8> array, zero-copy; of an
    image struct column, its PNG files' bytes, joined (for the checksum)."""
    if pa.types.is_struct(arr.type):
        return b"".join(b for b in arr.field("bytes").to_pylist() if b is not None)
    if pa.types.is_fixed_size_list(arr.type):
        w = arr.type.list_size
        child = arr.values.slice(arr.offset * w, len(arr) * w)
        return child.to_numpy(zero_copy_only=True).reshape(len(arr), w)
    return arr.to_numpy(zero_copy_only=True)


class Stream:
    """An iterator over the batches of one stream; verifies the trailer at the end."""

    def __init__(self, raw, closer=None):
        self._src = _TailTracker(raw)
        self._closer = closer
        try:
            self._reader = ipc.RecordBatchStreamReader(self._src)
        except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as e:
            self.close()
            raise TrailerError(f"no readable schema at the start of the stream: {e}") from e
        self.schema = self._reader.schema
        meta = self.schema.metadata or {}
        self.spec = json.loads(meta[b"shardmix.spec"]) if b"shardmix.spec" in meta else None
        names = self.schema.names
        self._checked = [i for i, n in enumerate(names) if n not in PROVENANCE]
        self._target = names.index("target") if "target" in names else None
        self._features = [i for i in self._checked if i != self._target]
        self.rows = 0
        self.batches = 0
        self.trailer = None
        self._crc = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._closer is not None:
            self._closer()
            self._closer = None

    def __iter__(self) -> Iterator[Batch]:
        try:
            while True:
                try:
                    rb, custom = self._reader.read_next_batch_with_custom_metadata()
                except StopIteration:
                    break
                except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as e:
                    raise TrailerError(f"the stream is corrupt or cut short: {e}") from e
                if custom is not None and TRAILER_KEY in custom:
                    if self.trailer is not None:
                        raise TrailerError("two trailers")
                    if rb.num_rows != 0:
                        raise TrailerError("the trailer batch has rows")
                    self.trailer = json.loads(custom[TRAILER_KEY])
                    continue
                if self.trailer is not None:
                    raise TrailerError("a batch after the trailer")
                for i in self._checked:
                    self._crc = zlib.crc32(_values(rb.column(i)), self._crc)
                self.rows += rb.num_rows
                self.batches += 1
                yield self._to_batch(rb)
            self._verify()
        finally:
            self.close()

    def _to_batch(self, rb: pa.RecordBatch) -> Batch:
        if len(self._features) == 1 and pa.types.is_struct(rb.column(self._features[0]).type):
            # PNG images: the files' bytes, one per row (decode them with Pillow).
            x = rb.column(self._features[0]).field("bytes").to_pylist()
        elif len(self._features) == 1 and pa.types.is_fixed_size_list(rb.column(self._features[0]).type):
            x = _values(rb.column(self._features[0]))
        else:
            x = np.stack([_values(rb.column(i)) for i in self._features], axis=1)
        y = _values(rb.column(self._target)) if self._target is not None else None
        return Batch(x, y, rb)

    def _verify(self):
        t = self.trailer
        if t is None:
            raise TrailerError(
                f"no trailer after {self.batches} batches ({self.rows} rows): "
                "the stream was cut short, or not written by shardmix"
            )
        if self._src.tail != EOS:
            raise TrailerError("the stream ends without its end-of-stream marker (cut short)")
        if t.get("algorithm") != ALGORITHM:
            raise TrailerError(f"unknown trailer checksum {t.get('algorithm')!r}")
        found = f"{self._crc:08x}"
        if (t["rows"], t["batches"], t["checksum"]) != (self.rows, self.batches, found):
            raise TrailerError(
                f"trailer says {t['rows']} rows in {t['batches']} batches with checksum "
                f"{t['checksum']}, the stream has {self.rows} rows in {self.batches} batches "
                f"with checksum {found}"
            )


def open_stream(url: str) -> Stream:
    """Open ``-`` (stdin), ``unix:PATH``, ``tcp:HOST:PORT`` or a file path."""
    if url == "-":
        return Stream(sys.stdin.buffer)
    if url.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(url[len("unix:"):])
        return _socket_stream(s)
    if url.startswith("tcp:"):
        host, _, port = url[len("tcp:"):].rpartition(":")
        s = socket.create_connection((host.strip("[]"), int(port)))
        return _socket_stream(s)
    f = open(url, "rb")
    return Stream(f, f.close)


def _socket_stream(s: socket.socket) -> Stream:
    f = s.makefile("rb", buffering=1 << 20)

    def close():
        f.close()
        s.close()

    return Stream(f, close)


if __name__ == "__main__":
    # Usage: python shardmix_client.py URL  — prints a summary, exits 1 on a bad stream.
    try:
        with open_stream(sys.argv[1] if len(sys.argv) > 1 else "-") as st:
            n = sum(b.features.shape[0] for b in st)
        print(f"ok: {n} rows in {st.batches} batches, trailer {st.trailer}", file=sys.stderr)
    except TrailerError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
