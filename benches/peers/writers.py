#!/usr/bin/env python3
"""Rewrite dataset (a) the way other Parquet writers write it by default (benches/peers/run.sh --writers).

    python writers.py --source DIR_A --root TARGET/bench-data    # generate (once) and list
    python writers.py --describe DIR                              # column chunks, by pyarrow's metadata

The rows are those of dataset (a) (examples/peer_data.rs): each shard of DIR_A is read with
pyarrow and written again, one file per shard with the same name, by every writer below. The
schema is made nullable (OPTIONAL columns, definition levels), as a table built with
`pa.table(...)`, pandas, polars, DuckDB or Spark has it; only `pyarrow-required` keeps the
REQUIRED columns of (a), to isolate that difference.

| writer            | how                                                                               |
|-------------------|-----------------------------------------------------------------------------------|
| pyarrow-default   | `pq.write_table(t, path)`: snappy, dictionary (PLAIN once the dictionary page is full), v1 pages, row groups up to 1 Mi rows |
| pyarrow-required  | the same, REQUIRED columns (the schema of (a))                                    |
| pyarrow-plain     | `use_dictionary=False`                                                            |
| pyarrow-zstd      | `compression="zstd"`                                                              |
| pyarrow-v2pages   | `data_page_version="2.0"`                                                         |
| polars            | `pl.from_arrow(t).write_parquet(path)` (its defaults: zstd)                       |
| duckdb            | `COPY t TO 'path' (FORMAT parquet)` (its defaults: snappy, row groups of 122,880) |
| spark-layout      | Spark's layout through pyarrow: snappy, dictionary, format 1.0 (PLAIN_DICTIONARY), v1 pages, no Arrow schema, one row group per file (a 128 MiB block holds a whole shard) |
| control-delta-label | a control, no writer's default: `use_dictionary=False`, `label` DELTA_BINARY_PACKED, which shardmix's direct path does not read |

With `--shards N` only the first N shards are rewritten (each writer's copy of the full (a)
takes 260-390 MB). Each writer's directory is `ROOT/writers-v1-<writer>-<name of DIR_A>[-firstN]/`;
a `DONE` marker holding
the writer's description and library version is written last, so an interrupted or changed
generation is redone and an unchanged one is skipped. Prints `writer NAME DIR` per writer on
stdout. polars and duckdb come from benches/peers/requirements-writers.txt.
"""

import argparse
import glob
import json
import os
import shutil
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq

VERSION = "writers-v1"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def nullable(table):
    """`table` with every field nullable (OPTIONAL in Parquet)."""
    schema = pa.schema([f.with_nullable(True) for f in table.schema], metadata=table.schema.metadata)
    return table.cast(schema)


def write_pyarrow(**options):
    def write(table, path):
        pq.write_table(nullable(table), path, **options)

    return write


def write_pyarrow_required(table, path):
    pq.write_table(table, path)


def write_polars(table, path):
    import polars as pl

    pl.from_arrow(nullable(table)).write_parquet(path)


def write_duckdb(table, path):
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET threads = 1")  # one writer thread: the same file on every run
        con.register("t", nullable(table))
        con.execute(f"COPY t TO '{path}' (FORMAT parquet)")
    finally:
        con.close()


def write_spark_layout(table, path):
    pq.write_table(nullable(table), path, compression="snappy", use_dictionary=True, version="1.0",
                   data_page_version="1.0", row_group_size=table.num_rows, store_schema=False)


def library_version(name):
    try:
        return f"{name} {__import__(name).__version__}"
    except ImportError:
        return None


# name -> (description, writer function, the library that writes)
WRITERS = {
    "pyarrow-default": ("pq.write_table defaults (snappy, dictionary, v1 pages)", write_pyarrow(), "pyarrow"),
    "pyarrow-required": ("pq.write_table defaults, REQUIRED columns (the schema of (a))", write_pyarrow_required,
                         "pyarrow"),
    "pyarrow-plain": ("pq.write_table use_dictionary=False", write_pyarrow(use_dictionary=False), "pyarrow"),
    "pyarrow-zstd": ("pq.write_table compression='zstd'", write_pyarrow(compression="zstd"), "pyarrow"),
    "pyarrow-v2pages": ("pq.write_table data_page_version='2.0'", write_pyarrow(data_page_version="2.0"), "pyarrow"),
    "polars": ("polars DataFrame.write_parquet defaults (zstd)", write_polars, "polars"),
    "duckdb": ("DuckDB COPY ... TO ... (FORMAT parquet) defaults (snappy)", write_duckdb, "duckdb"),
    "spark-layout": ("Spark's layout via pyarrow: snappy, dictionary, format 1.0, v1 pages, one row group per file",
                     write_spark_layout, "pyarrow"),
    "control-delta-label": ("control, not a writer's default: PLAIN features, DELTA_BINARY_PACKED label (the direct "
                            "path does not read DELTA: every block falls back to arrow-rs)",
                            write_pyarrow(use_dictionary=False, column_encoding={"label": "DELTA_BINARY_PACKED"}),
                            "pyarrow"),
}


def generate(source, root, names, first=None):
    shards = sorted(glob.glob(os.path.join(source, "*.parquet")))
    if not shards:
        raise SystemExit(f"writers.py: no *.parquet files in {source}")
    part = ""
    if first is not None and first < len(shards):
        shards, part = shards[:first], f"-first{first}"
    out = []
    for name in names:
        description, write, lib = WRITERS[name]
        version = library_version(lib)
        if version is None:
            raise SystemExit(f"writers.py: {lib} is not installed (benches/peers/requirements-writers.txt)")
        directory = os.path.join(root, f"{VERSION}-{name}-{os.path.basename(os.path.normpath(source))}{part}")
        marker = os.path.join(directory, "DONE")
        expected = json.dumps({"writer": name, "how": description, "library": version,
                               "source": os.path.abspath(source), "shards": [os.path.basename(s) for s in shards]})
        try:
            with open(marker) as f:
                cached = f.read() == expected
        except OSError:
            cached = False
        if not cached:
            started = time.time()
            shutil.rmtree(directory, ignore_errors=True)
            os.makedirs(directory)
            for shard in shards:
                table = pq.read_table(shard)
                path = os.path.join(directory, os.path.basename(shard))
                write(table, path + ".tmp")
                os.replace(path + ".tmp", path)
            with open(marker, "w") as f:
                f.write(expected)
            log(f"writers: generated {directory} ({version}) in {time.time() - started:.1f} s")
        out.append((name, directory))
    return out


def describe(directory):
    """Per file: row groups, and per column group (features, label) the codecs, encodings and
    whether there is a dictionary page, from pyarrow's metadata. One JSON object per file."""
    files = []
    for path in sorted(glob.glob(os.path.join(directory, "*.parquet"))):
        meta = pq.ParquetFile(path).metadata
        groups = {}
        for rg in range(meta.num_row_groups):
            row_group = meta.row_group(rg)
            for c in range(row_group.num_columns):
                col = row_group.column(c)
                group = "label" if col.path_in_schema == "label" else "features"
                g = groups.setdefault(group, {"codecs": set(), "encodings": set(), "dictionary_page": set(),
                                              "max_def": meta.schema.column(c).max_definition_level,
                                              "compressed": 0, "uncompressed": 0})
                g["codecs"].add(col.compression)
                g["encodings"].update(col.encodings)
                g["dictionary_page"].add(col.has_dictionary_page)
                g["compressed"] += col.total_compressed_size
                g["uncompressed"] += col.total_uncompressed_size
        for g in groups.values():
            for k in ("codecs", "encodings", "dictionary_page"):
                g[k] = sorted(g[k])
        files.append({"file": os.path.basename(path), "created_by": meta.created_by,
                      "format_version": meta.format_version, "rows": meta.num_rows,
                      "row_groups": [meta.row_group(i).num_rows for i in range(meta.num_row_groups)],
                      "bytes": os.path.getsize(path), "columns": groups})
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", help="dataset (a): the directory of examples/peer_data.rs's shards")
    ap.add_argument("--root", help="where the writers' directories go (target/bench-data)")
    ap.add_argument("--only", default=",".join(WRITERS), help="comma-separated writers (default: all)")
    ap.add_argument("--shards", type=int, default=None,
                    help="rewrite only the first N shards of DIR_A (less disk; default: all)")
    ap.add_argument("--describe", metavar="DIR", help="print the column chunks of DIR's files as JSON lines")
    a = ap.parse_args()
    if a.describe:
        for f in describe(a.describe):
            print(json.dumps(f))
        return
    if not (a.source and a.root):
        ap.error("--source and --root are needed (or --describe DIR)")
    names = [n for n in a.only.split(",") if n]
    unknown = [n for n in names if n not in WRITERS]
    if unknown:
        ap.error(f"unknown writer(s) {unknown}; known: {', '.join(WRITERS)}")
    if a.shards is not None and a.shards < 1:
        ap.error("--shards must be at least 1")
    for name, directory in generate(a.source, a.root, names, a.shards):
        print(f"writer {name} {directory}")


if __name__ == "__main__":
    main()
