#!/usr/bin/env python3
"""Plain-SQL peer of the bill run benchmark (Benchmarks/billrun.sh).

On a copy of the database `tollbooth bench prepare` + `meter ingest` made, does in one durable
transaction (WAL, synchronous = FULL) what `tollbooth run --as-of` does for that database: the
period closes, the invoices and their lines (fee, usage of the three meters), their zero tax
(status `taxed`, as with no tax provider), the closes marked rated and the run in the job
ledger. Everything is INSERT ... SELECT or UPDATE; no row passes through Python. Amounts are
worked out in integer minor units: decimal texts are read as integers of millionths (exact for
the generator's values, which have at most one decimal) and written back as plain decimal text,
as Tollbooth stores them. Only what this benchmark's data holds is handled: the bench plan
(checked below), monthly bill dates on the first of the month, no late usage, credits,
adjustments or tax rates.

    python3 Benchmarks/billrun_peer.py DB --as-of 2026-02-01T02:00:00Z [--check OTHER_DB]
    python3 Benchmarks/billrun_peer.py DB --compare OTHER_DB

Prints the time the transaction took. With --check (after the run) or --compare (instead of
it), compares every invoice (customer, bill date, status, subtotal, tax, total) and line
(position, kind, rate card, quantity, amount, tax) with those `tollbooth run` wrote in
OTHER_DB, to the cent, and exits 1 when they differ.
"""
import argparse
import datetime
import json
import sqlite3
import sys
import time
from decimal import Decimal

# The bench plan (Sources/Showcase/Benchmark.swift), as the peer prices it.
EXPECTED_CARDS = [
    ("base_fee", {"type": "flat", "amount": "19.00"}),
    ("api_requests", {"type": "tiered", "mode": "graduated", "tiers": [
        {"upToAmount": "50", "unitPrice": {"type": "unit", "amount": "0"}},
        {"unitPrice": {"type": "unit", "amount": "0.01"}}]}),
    ("llm_tokens", {"type": "package", "amount": "0.50", "quantityPerPackage": 100000}),
    ("storage_gb", {"type": "unit", "amount": "0.02"}),
]


def micro(column: str) -> str:
    """SQL: a decimal text column as an integer of millionths (no binary float on the way)."""
    text = f"ltrim({column}, '-')"
    dot = f"instr({text}, '.')"
    whole = f"CAST(CASE WHEN {dot} > 0 THEN substr({text}, 1, {dot} - 1) ELSE {text} END AS INTEGER)"
    fraction = f"CAST(CASE WHEN {dot} > 0 THEN substr(substr({text}, {dot} + 1) || '000000', 1, 6) ELSE '0' END AS INTEGER)"
    return f"(CASE WHEN substr({column}, 1, 1) = '-' THEN -1 ELSE 1 END * ({whole} * 1000000 + {fraction}))"


def plain(value: str, scale: int) -> str:
    """SQL: an integer of 10^-scale units as plain decimal text ("19", "0.5", "193.41")."""
    unit = 10 ** scale
    fixed = f"printf('%s%d.%0{scale}d', CASE WHEN {value} < 0 THEN '-' ELSE '' END, abs({value}) / {unit}, abs({value}) % {unit})"
    return f"(CASE WHEN {value} % {unit} = 0 THEN CAST({value} / {unit} AS TEXT) ELSE rtrim({fixed}, '0') END)"


def cents(value: str) -> str:
    return plain(value, 2)


def month_after(seconds: str, months: int = 1) -> str:
    return f"CAST(strftime('%s', {seconds}, 'unixepoch', '{months:+d} month') AS INTEGER)"


def matches(value, expected) -> bool:
    """The stored catalog's value holds what the peer expects (numbers compared exactly)."""
    if isinstance(expected, dict):
        return isinstance(value, dict) and all(matches(value.get(key), item) for key, item in expected.items())
    if isinstance(expected, list):
        return isinstance(value, list) and len(value) == len(expected) and all(map(matches, value, expected))
    try:
        return Decimal(str(value)) == Decimal(str(expected))
    except ArithmeticError:
        return value == expected


def check_plan(db: sqlite3.Connection) -> None:
    rows = db.execute("SELECT json FROM plans").fetchall()
    assert len(rows) == 1, "the peer prices the bench plan only"
    cards = json.loads(rows[0][0])["phases"][0]["rateCards"]
    got = [(card["key"], card["price"]) for card in cards]
    assert len(got) == len(EXPECTED_CARDS), got
    for (key, price), (expected_key, expected) in zip(got, EXPECTED_CARDS):
        assert key == expected_key and matches(price, expected), (key, price)


def run(path: str, as_of: int, now: int) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA temp_store = MEMORY")
    check_plan(db)
    horizon = as_of - 3600  # the collection window, PT1H
    started = time.perf_counter()
    db.execute("BEGIN IMMEDIATE")
    run_id = db.execute("INSERT INTO job_runs (as_of, started_at, status, dry_run) VALUES (?, ?, 'running', 0)",
                        (as_of, now)).lastrowid
    for stage in ("close", "rate", "tax"):
        db.execute("INSERT INTO job_stages (run_id, stage, started_at, status) VALUES (?, ?, ?, 'running')", (run_id, stage, now))

    # close: every monthly bill date from the anchor up to the horizon, within the subscription.
    db.execute(f"""
        INSERT OR IGNORE INTO period_closes (subscription_id, bill_date, customer_key, run_id)
        WITH RECURSIVE dates (id, customer_key, start, "end", d) AS (
            SELECT id, customer_key, start, "end", anchor FROM subscriptions
            UNION ALL
            SELECT id, customer_key, start, "end", {month_after('d')} FROM dates WHERE {month_after('d')} <= :horizon)
        SELECT id, d, customer_key, :run FROM dates
        WHERE d >= start AND d <= :horizon AND ("end" IS NULL OR d <= "end")
        """, {"horizon": horizon, "run": run_id})

    # rate: the lines of each closed bill date, in integer cents, in a temporary table first
    # (an invoice's totals are the sum of its lines, and the invoice row goes in before them).
    db.execute(f"""
        CREATE TEMP TABLE usage (subscription_id TEXT, bill_date INTEGER, requests INTEGER, tokens INTEGER, storage INTEGER,
                                 PRIMARY KEY (subscription_id, bill_date))
        """)
    db.execute(f"""
        INSERT INTO temp.usage
        SELECT c.subscription_id, c.bill_date,
               sum(CASE WHEN u.meter_slug = 'api_requests' THEN u.count END),
               sum(CASE WHEN u.meter_slug = 'llm_tokens' THEN {micro('u.sum')} END),
               max(CASE WHEN u.meter_slug = 'storage_gb' THEN {micro('u.max')} END)
        FROM period_closes c JOIN subscriptions s ON s.id = c.subscription_id
        JOIN usage_rows u ON u.subscription_id = c.subscription_id
             AND u.window_start >= {month_after('c.bill_date', -1)} AND u.window_start < c.bill_date
        WHERE c.run_id = :run AND {month_after('c.bill_date', -1)} >= s.start
        GROUP BY 1, 2
        """, {"run": run_id})
    previous = month_after('c.bill_date', -1)
    db.execute(f"""
        CREATE TEMP TABLE lines AS
        WITH bills AS (
            SELECT c.subscription_id, c.customer_key, c.bill_date, s.start,
                   'inv_' || c.customer_key || '_' || strftime('%Y%m%d', c.bill_date, 'unixepoch') AS invoice_id,
                   {previous} AS previous, {month_after('c.bill_date')} AS next,
                   coalesce(u.requests, 0) AS requests, coalesce(u.tokens, 0) AS tokens, coalesce(u.storage, 0) AS storage
            FROM period_closes c JOIN subscriptions s ON s.id = c.subscription_id
            LEFT JOIN temp.usage u ON u.subscription_id = c.subscription_id AND u.bill_date = c.bill_date
            WHERE c.run_id = :run),
        priced AS (
            SELECT *, max(requests - 50, 0) AS billable_requests,
                   (tokens + 100000 * 1000000 - 1) / (100000 * 1000000) AS packages,
                   (storage * 2 + 500000) / 1000000 AS storage_cents
            FROM bills)
        SELECT invoice_id, customer_key, bill_date, 0 AS position, 'fee' AS kind, subscription_id, 'base_fee' AS card, NULL AS feature,
               'Platform fee' AS description, bill_date AS period_start, next AS period_end, NULL AS quantity, 1900 AS amount,
               '19.00' AS detail
        FROM priced
        UNION ALL
        SELECT invoice_id, customer_key, bill_date, 1, 'usage', subscription_id, 'api_requests', 'api_requests', 'API requests',
               previous, bill_date, CAST(requests AS TEXT), billable_requests,
               'tiers: ' || min(requests, 50) || ' x 0.00' || CASE WHEN billable_requests > 0 THEN ' + ' || billable_requests || ' x 0.01' ELSE '' END
        FROM priced WHERE previous >= start
        UNION ALL
        SELECT invoice_id, customer_key, bill_date, 2, 'usage', subscription_id, 'llm_tokens', 'llm_tokens', 'LLM tokens',
               previous, bill_date, {plain('tokens', 6)}, packages * 50,
               printf('%,d', tokens / 1000000) || ' units = ' || packages || ' x 100,000-unit package x 0.50'
        FROM priced WHERE previous >= start
        UNION ALL
        SELECT invoice_id, customer_key, bill_date, 3, 'usage', subscription_id, 'storage_gb', 'storage_gb', 'Storage',
               previous, bill_date, {plain('storage', 6)}, storage_cents,
               {plain('storage', 6)} || ' x 0.02'
        FROM priced WHERE previous >= start
        """, {"run": run_id})
    # tax: no provider, so every line's tax is 0 and the invoice goes straight to `taxed`.
    db.execute(f"""
        INSERT INTO invoices (id, customer_key, bill_date, currency, status, subtotal, tax, total, period_start, period_end,
                              run_id, created_at, updated_at)
        SELECT invoice_id, customer_key, bill_date, 'USD', 'taxed', {cents('sum(amount)')}, '0', {cents('sum(amount)')},
               min(period_start), max(period_end), :run, :now, :now
        FROM temp.lines GROUP BY invoice_id
        """, {"run": run_id, "now": now})
    db.execute(f"""
        INSERT INTO invoice_lines (id, invoice_id, position, kind, subscription_id, rate_card_key, feature_key, description,
                                   period_start, period_end, quantity, amount, tax_behavior, tax_code, tax_amount, detail)
        SELECT invoice_id || '_' || (position + 1), invoice_id, position, kind, subscription_id, card, feature, description,
               period_start, period_end, quantity, {cents('amount')}, 'exclusive', NULL, '0', detail
        FROM temp.lines
        """)
    db.execute("""
        UPDATE period_closes SET rated_run_id = :run,
               invoice_id = 'inv_' || customer_key || '_' || strftime('%Y%m%d', bill_date, 'unixepoch')
        WHERE run_id = :run
        """, {"run": run_id})
    closed = db.execute("SELECT count(*) FROM period_closes WHERE run_id = ?", (run_id,)).fetchone()[0]
    invoices = db.execute("SELECT count(*) FROM invoices WHERE run_id = ?", (run_id,)).fetchone()[0]
    counts = {"close": {"closed": closed, "late_bills": 0}, "rate": {"rated": invoices, "without_lines": 0},
              "tax": {"taxed": invoices, "failed": 0}}
    for stage, stage_counts in counts.items():
        db.execute("UPDATE job_stages SET finished_at = ?, status = 'succeeded', counts = ?, errors = '' WHERE run_id = ? AND stage = ?",
                   (now, json.dumps(stage_counts), run_id, stage))
    db.execute("UPDATE job_runs SET status = 'succeeded', finished_at = ? WHERE id = ?", (now, run_id))
    db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    print(f"peer: {closed} closes, {invoices} invoices in {elapsed:.3f} s (one transaction)")
    return elapsed


def amounts(path: str):
    """Every invoice and line as exact numbers, keyed by customer and bill date."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    invoices = {}
    for customer, bill_date, status, subtotal, tax, total in db.execute(
            "SELECT customer_key, bill_date, status, subtotal, tax, total FROM invoices"):
        invoices[(customer, bill_date)] = [status, Decimal(subtotal), Decimal(tax), Decimal(total)]
    for customer, bill_date, position, kind, card, quantity, amount, tax in db.execute("""
            SELECT i.customer_key, i.bill_date, l.position, l.kind, l.rate_card_key, l.quantity, l.amount, l.tax_amount
            FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id ORDER BY l.invoice_id, l.position"""):
        invoices[(customer, bill_date)].append((position, kind, card, quantity and Decimal(quantity), Decimal(amount), Decimal(tax)))
    db.close()
    return invoices


def check(peer_path: str, tollbooth_path: str) -> bool:
    peer, tollbooth = amounts(peer_path), amounts(tollbooth_path)
    differing = [key for key in sorted(set(peer) | set(tollbooth)) if peer.get(key) != tollbooth.get(key)]
    lines = sum(len(invoice) - 4 for invoice in tollbooth.values())
    total = sum(invoice[3] for invoice in tollbooth.values())
    if differing:
        print(f"check: {len(differing)} of {len(tollbooth)} invoices differ, e.g. {differing[0]}: "
              f"peer {peer.get(differing[0])}, tollbooth {tollbooth.get(differing[0])}")
        return False
    print(f"check: identical to the cent: {len(tollbooth)} invoices, {lines} lines, total {total:,}", flush=True)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", help="a copy of the ingested benchmark database (changed in place)")
    parser.add_argument("--as-of", help="the bill run's as-of, RFC 3339 (bench prepare prints it)")
    parser.add_argument("--check", metavar="OTHER_DB", help="after the run, compare with a copy `tollbooth run --as-of` billed")
    parser.add_argument("--compare", metavar="OTHER_DB", help="compare DB, billed by this peer, with OTHER_DB; run nothing")
    args = parser.parse_args()
    if args.compare:
        return 0 if check(args.db, args.compare) else 1
    if not args.as_of:
        parser.error("--as-of is required to run")
    as_of = int(datetime.datetime.fromisoformat(args.as_of.replace("Z", "+00:00")).timestamp())
    run(args.db, as_of, int(time.time()))
    if args.check and not check(args.db, args.check):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
