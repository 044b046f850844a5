#!/usr/bin/env python3
"""Regenerate examples/data/digits.parquet from scikit-learn's bundled handwritten-digits set.

    bash scripts/python-env.sh scripts/requirements-digits.txt   # venv with scikit-learn + pyarrow
    .venv/bin/python scripts/make_digits.py [OUT.parquet]

The data ships inside the scikit-learn wheel (no download): 1,797 8x8 images of the digits 0-9,
pixel intensities 0..16. Output schema: p0..p63 float32 (intensity / 16, so in [0, 1]) and
label int64 (0-9), rows in scikit-learn's order, snappy, row groups of 512 rows (4 row groups),
page checksums on. The output is deterministic: same scikit-learn + pyarrow, same bytes.
"""

import hashlib
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.datasets import load_digits

ROW_GROUP_SIZE = 512


def main() -> int:
    repo = Path(__file__).resolve().parent.parent
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else repo / "examples" / "data" / "digits.parquet"

    digits = load_digits()
    pixels = np.asarray(digits.data, dtype=np.float64)
    labels = np.asarray(digits.target, dtype=np.int64)
    assert pixels.shape == (1797, 64), pixels.shape
    assert pixels.min() >= 0 and pixels.max() <= 16
    assert sorted(set(labels.tolist())) == list(range(10))

    features = (pixels / 16.0).astype(np.float32)
    columns = {f"p{i}": pa.array(features[:, i], type=pa.float32()) for i in range(64)}
    columns["label"] = pa.array(labels, type=pa.int64())
    schema = pa.schema(
        [pa.field(f"p{i}", pa.float32(), nullable=False) for i in range(64)]
        + [pa.field("label", pa.int64(), nullable=False)],
        metadata={
            "source": "scikit-learn sklearn.datasets.load_digits (UCI optdigits test set)",
            "license": "BSD-3-Clause (scikit-learn)",
            "generator": "scripts/make_digits.py",
        },
    )
    table = pa.Table.from_pydict(columns, schema=schema)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".parquet.tmp")
    pq.write_table(
        table,
        tmp,
        row_group_size=ROW_GROUP_SIZE,
        compression="snappy",
        write_page_checksum=True,
        write_statistics=True,
    )
    tmp.replace(out)

    meta = pq.read_metadata(out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()[:16]
    print(
        f"wrote {out}: {meta.num_rows} rows, {meta.num_columns} columns, "
        f"{meta.num_row_groups} row groups, {out.stat().st_size} bytes, sha256 {digest}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
