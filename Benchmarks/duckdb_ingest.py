#!/usr/bin/env python3
"""DuckDB reference for Metering's parse + de-duplicate + aggregate benchmark.

Reads a CloudEvents NDJSON file (as written by Metering's EventGenerator), keeps the first
event of each (source, id), and groups by (subject, type, model, window: month by default, as Tollbooth's segments are cut at
billing periods) with count, sum and max of the
generator's values, the same work MeteringBenchmark.parseAndAggregate does. Prints the time and
events per second.

    python3 -m venv /tmp/bench-venv && /tmp/bench-venv/bin/pip install duckdb
    /tmp/bench-venv/bin/python Benchmarks/duckdb_ingest.py /tmp/events-2m.ndjson [--threads 2]
"""
import argparse
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="NDJSON file of CloudEvents")
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads (default 2)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs (default 3); the best is reported")
    parser.add_argument("--window", choices=["hour", "month"], default="month",
                        help="segment window: month matches Tollbooth's segments (cut at billing periods)")
    args = parser.parse_args()

    try:
        import duckdb
    except ImportError:
        print("duckdb is not installed for this Python; skipping the DuckDB benchmark "
              "(python3 -m venv /tmp/bench-venv && /tmp/bench-venv/bin/pip install duckdb)")
        return 0

    # Values are read as exact DECIMAL(38, 10), never as binary floats.
    query = """
        WITH events AS (
            SELECT * FROM read_json_auto(?, format = 'newline_delimited', columns = {
                specversion: 'VARCHAR', id: 'VARCHAR', source: 'VARCHAR', type: 'VARCHAR',
                subject: 'VARCHAR', time: 'TIMESTAMPTZ',
                data: 'STRUCT(tokens DECIMAL(38, 10), model VARCHAR, gb DECIMAL(38, 10))'})
        ),
        unique_events AS (
            SELECT * FROM events QUALIFY row_number() OVER (PARTITION BY source, id) = 1
        )
        SELECT subject, type, data.model AS model, date_trunc('{window}', time) AS window_start,
               count(*) AS events, sum(data.tokens) AS tokens, max(data.gb) AS gb
        FROM unique_events
        GROUP BY ALL
    """
    query = query.replace("{window}", args.window)
    connection = duckdb.connect()
    connection.execute(f"SET threads = {args.threads}")
    connection.execute("SET TimeZone = 'UTC'")
    lines = sum(1 for line in open(args.path, "rb") if line.strip())
    best = None
    for run in range(args.runs):
        start = time.perf_counter()
        connection.execute(f"CREATE OR REPLACE TEMP TABLE segments AS {query}", [args.path])
        elapsed = time.perf_counter() - start
        segments = connection.execute("SELECT count(*), sum(events) FROM segments").fetchone()
        print(f"run {run + 1}: {elapsed:.3f} s, {lines / elapsed:,.0f} events/s, "
              f"{segments[0]:,} segments from {segments[1]:,} unique events")
        best = elapsed if best is None else min(best, elapsed)
    print(f"DuckDB {duckdb.__version__}, {args.threads} threads: best {best:.3f} s, "
          f"{lines / best:,.0f} events/s over {lines:,} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
