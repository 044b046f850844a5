"""Check the Python IPC client against stream files written by a Rust test.
# shardmix: needs-args

Usage: python tests/python/test_ipc_client.py STREAM_FILE [STREAM_FILE ...]

For each file: the client reads it and the trailer matches; a plain pyarrow reader sees
the same rows (the trailer adds none); every truncated copy — cut at each message boundary,
inside each message prefix, header and body — is rejected by the client; a copy with one
changed feature value fails the checksum. No pytest needed: exits 1 on the first failure.
"""

import os
import sys
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "python"))

from shardmix_client import TrailerError, open_stream  # noqa: E402


def message_ends(path):
    """Byte offsets where each message ends (the schema first, the EOS marker excluded)."""
    ends = []
    with pa.OSFile(path) as f:
        reader = ipc.MessageReader.open_stream(f)
        while True:
            try:
                reader.read_next_message()
            except StopIteration:
                break
            ends.append(f.tell())
    return ends


def read_all(path):
    with open_stream(path) as st:
        batches = list(st)
    return st, batches


def expect_rejected(path, what):
    try:
        read_all(path)
    except TrailerError:
        return
    except Exception as e:  # any other error is a failure of the client's contract
        raise AssertionError(f"{what}: raised {type(e).__name__} instead of TrailerError: {e}")
    raise AssertionError(f"{what}: a damaged stream was accepted")


def check_file(path):
    data = open(path, "rb").read()
    st, batches = read_all(path)
    t = st.trailer
    assert t is not None
    rows = sum(b.features.shape[0] for b in batches)
    assert t["rows"] == rows == st.rows, (t, rows)
    assert t["batches"] == len(batches), (t, len(batches))

    # Features and targets are float32 matrices of the spec's width.
    spec = st.spec
    f = spec["features"]
    width = f["len"] if f["layout"] == "list" else len(f["columns"])
    for b in batches:
        assert b.features.dtype == np.float32 and b.features.shape[1] == width
        assert b.targets is None or b.targets.shape == (b.features.shape[0], spec["num_targets"])

    # Zero copy for the list layout: the numpy array shares the Arrow buffer.
    if f["layout"] == "list":
        nonempty = [b for b in batches if b.features.shape[0] > 0]
        x = nonempty[0].features
        col = nonempty[0].record_batch.column(f["column"])
        assert x.base is not None and not x.flags.owndata
        assert np.shares_memory(x, col.values.to_numpy(zero_copy_only=True))

    # A plain pyarrow reader sees the same rows plus one zero-row batch (the trailer).
    with ipc.open_stream(pa.BufferReader(data)) as r:
        plain = [rb.num_rows for rb in r]
    assert plain[:-1] == [b.features.shape[0] for b in batches] and plain[-1] == 0, plain

    # Same values as the plain reader.
    with ipc.open_stream(pa.BufferReader(data)) as r:
        plain_batches = list(r)
    for ours, theirs in zip(batches, plain_batches):
        assert ours.record_batch.equals(theirs)

    # Every truncation is rejected.
    ends = message_ends(path)
    assert ends[-1] < len(data), "the end-of-stream marker must follow the trailer"
    cuts = {0, 3}
    for e in ends:
        cuts.update({e, e + 4, e + 9, e + 20})
    cuts.add(len(data) - 1)
    cuts = sorted(c for c in cuts if c < len(data))
    with tempfile.TemporaryDirectory() as d:
        cut_path = os.path.join(d, "cut.arrows")
        for c in cuts:
            with open(cut_path, "wb") as out:
                out.write(data[:c])
            expect_rejected(cut_path, f"cut at byte {c} of {len(data)}")

        # A changed feature value fails the checksum (the stream stays well-formed).
        nonempty = [b for b in batches if b.features.shape[0] > 0]
        needle = np.float32(nonempty[-1].features[0, 0]).tobytes()
        pos = data.rfind(needle, 0, ends[-2])  # inside the last data batch's body
        assert pos > 0
        bad = bytearray(data)
        bad[pos:pos + 4] = np.float32(12345.0).tobytes()
        with open(cut_path, "wb") as out:
            out.write(bytes(bad))
        try:
            read_all(cut_path)
            raise AssertionError("a changed value was accepted")
        except TrailerError as e:
            assert "checksum" in str(e), e
    return len(cuts), rows


def main(paths):
    if not paths:
        print("usage: test_ipc_client.py STREAM_FILE [...]", file=sys.stderr)
        return 2
    for p in paths:
        n, rows = check_file(p)
        print(f"{os.path.basename(p)}: {rows} rows verified, {n} truncations rejected")
    print(f"{len(paths)} passed, 0 failed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        print("0 passed, 1 failed")
        sys.exit(1)
