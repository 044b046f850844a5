"""Open a shardmix `augment` output directory as a dataset, in the forms a data scientist tries.

Usage: read_output.py DIR COLUMN READER [READER ...]

READER is one of:
  pyarrow.dataset   pyarrow.dataset.dataset(DIR, format="parquet")
  pyarrow.parquet   pyarrow.parquet.read_table(DIR)
  duckdb            duckdb: SELECT ... FROM read_parquet('DIR/*.parquet')
  polars            polars.scan_parquet('DIR/*.parquet')
  datasets          datasets.load_dataset("parquet", data_dir=DIR)  (offline, cache in $HF_HOME)

Prints one JSON object per reader on its own line: {"reader", "rows", "columns", "sum"} where
`sum` is the float64 sum of COLUMN, or {"reader", "error"} when the reader fails (an import
included). Always exits 0 when its arguments are valid: the caller judges the results.
"""

import json
import os
import sys


def pyarrow_dataset(d, col):
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    t = ds.dataset(d, format="parquet").to_table()
    return t.num_rows, t.column_names, pc.sum(t.column(col).cast("float64")).as_py()


def pyarrow_parquet(d, col):
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    t = pq.read_table(d)
    return t.num_rows, t.column_names, pc.sum(t.column(col).cast("float64")).as_py()


def duckdb_glob(d, col):
    import duckdb

    con = duckdb.connect()
    rel = con.sql(f"SELECT * FROM read_parquet('{d}/*.parquet')")
    query = f"SELECT count(*), sum(CAST(\"{col}\" AS DOUBLE)) FROM read_parquet('{d}/*.parquet')"
    rows, total = con.sql(query).fetchall()[0]
    return rows, rel.columns, total


def polars_glob(d, col):
    import polars as pl

    df = pl.scan_parquet(f"{d}/*.parquet").collect()
    return df.height, df.columns, float(df[col].cast(pl.Float64).sum())


def hf_datasets(d, col):
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    cache = os.path.join(os.environ.get("HF_HOME", d + ".hf"), "datasets")
    dd = datasets.load_dataset("parquet", data_dir=d, cache_dir=cache)
    train = dd["train"]
    return train.num_rows, train.column_names, float(sum(train[col]))


READERS = {
    "pyarrow.dataset": pyarrow_dataset,
    "pyarrow.parquet": pyarrow_parquet,
    "duckdb": duckdb_glob,
    "polars": polars_glob,
    "datasets": hf_datasets,
}


def main():
    if len(sys.argv) < 4 or any(r not in READERS for r in sys.argv[3:]):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    d, col = sys.argv[1], sys.argv[2]
    for name in sys.argv[3:]:
        try:
            rows, columns, total = READERS[name](d, col)
            print(json.dumps({"reader": name, "rows": int(rows), "columns": list(columns), "sum": float(total)}))
        except Exception as e:  # noqa: BLE001 - every failure is a result to report
            print(json.dumps({"reader": name, "error": f"{type(e).__name__}: {e}"[:2000]}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
