import Foundation

/// The versioned schema. Migrations run in order on open, each in its own transaction, and are
/// recorded in `schema_migrations`; a migration is never edited once released, only added.
/// Constraints live in the schema: keys, foreign keys, and checks on every closed set of values.
enum Schema {
    /// Each migration is SQL, then optionally a step in code for what SQL cannot express.
    static let migrations: [(version: Int, sql: String, code: (@Sendable (Database) throws -> Void)?)] = [
        (1, version1, nil),
        (2, version2, moveEventKeysIntoBlocks),
        (3, version3, nil),
        (4, version4, nil),
        (5, version5, nil),
        (6, version6, nil),
        (7, version7, nil),
        (8, version8, nil),
        (9, version9, nil),
        (10, version10, nil),
        (11, version11, nil),
        (12, version12, nil),
        (13, version13, nil),
    ]

    /// The newest schema this build knows.
    static var latestVersion: Int { migrations.map(\.version).max() ?? 0 }

    /// Refuses a database that a newer Tollbooth has migrated (after a rollback of the binary,
    /// say): this one would misread it, and must not write to it. Reads only.
    static func checkVersion(_ database: Database) throws {
        var found = Int(try database.first("PRAGMA user_version")?.int(0) ?? 0)
        if try database.first("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'") != nil {
            found = max(found, Int(try database.first("SELECT coalesce(max(version), 0) FROM schema_migrations")?.int(0) ?? 0))
        }
        if found > latestVersion { throw SchemaVersionError(path: database.path, found: found, known: latestVersion) }
    }

    static func migrate(_ database: Database) throws {
        try database.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
        let applied = Set(try database.query("SELECT version FROM schema_migrations").compactMap { $0.int(0) })
        for migration in migrations where !applied.contains(Int64(migration.version)) {
            // A migration may rebuild a table others refer to: foreign keys are checked once at
            // its end instead of enforced statement by statement (SQLite's way to alter a table).
            try database.execute("PRAGMA foreign_keys = OFF")
            defer { try? database.execute("PRAGMA foreign_keys = ON") }
            try database.transaction {
                try database.execute(migration.sql)
                try migration.code?(database)
                if let broken = try database.first("PRAGMA foreign_key_check") {
                    throw DatabaseError(code: 19, message: "migration \(migration.version) leaves a broken reference in \(broken.string(0) ?? "a table")", sql: nil)
                }
                try database.run("INSERT INTO schema_migrations (version, applied_at) VALUES (?, strftime('%s','now'))",
                                 [.integer(Int64(migration.version))])
                try database.execute("PRAGMA user_version = \(migration.version)")
            }
        }
    }

    static let invoiceStatuses = "'draft','rated','taxed','issuing','issued','paid','payment_failed','uncollectible','void','not_required','failed'"
    static let lineKinds = "'fee','usage','proration_credit','proration_charge','late_usage','discount','commitment','adjustment'"
    static let stages = "'close','rate','tax','issue','collect','reconcile'"

    static let version1 = """
    CREATE TABLE meters (
        slug TEXT PRIMARY KEY,
        event_type TEXT NOT NULL,
        json TEXT NOT NULL,
        imported_at INTEGER NOT NULL
    );
    CREATE INDEX meters_event_type ON meters (event_type);

    CREATE TABLE features (
        key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        meter_slug TEXT REFERENCES meters (slug),
        imported_at INTEGER NOT NULL
    );

    -- A published plan version is immutable.
    CREATE TABLE plans (
        key TEXT NOT NULL,
        version INTEGER NOT NULL CHECK (version >= 1),
        name TEXT NOT NULL,
        currency TEXT NOT NULL CHECK (length(currency) = 3),
        json TEXT NOT NULL,
        imported_at INTEGER NOT NULL,
        PRIMARY KEY (key, version)
    );

    CREATE TABLE customers (
        key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        email TEXT,
        currency TEXT CHECK (currency IS NULL OR length(currency) = 3),
        json TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );

    CREATE TABLE customer_subjects (
        subject TEXT PRIMARY KEY,
        customer_key TEXT NOT NULL REFERENCES customers (key) ON DELETE CASCADE
    );
    CREATE INDEX customer_subjects_customer ON customer_subjects (customer_key);

    -- A change ends a subscription (end, successor_id) and starts its successor (predecessor_id).
    CREATE TABLE subscriptions (
        id TEXT PRIMARY KEY,
        customer_key TEXT NOT NULL REFERENCES customers (key),
        plan_key TEXT NOT NULL,
        plan_version INTEGER NOT NULL,
        anchor INTEGER NOT NULL,
        start INTEGER NOT NULL,
        "end" INTEGER CHECK ("end" IS NULL OR "end" >= start),
        predecessor_id TEXT UNIQUE REFERENCES subscriptions (id),
        successor_id TEXT UNIQUE REFERENCES subscriptions (id),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        FOREIGN KEY (plan_key, plan_version) REFERENCES plans (key, version)
    );
    CREATE INDEX subscriptions_customer ON subscriptions (customer_key, start);

    -- (source, id) of every accepted event, as a 128-bit hash (two 64-bit halves), kept for
    -- dedupeRetention after the event's time. The first half is the rowid, so sorted batches
    -- append to the B-tree; two keys whose first halves collide go to event_key_overflow.
    CREATE TABLE event_keys (
        hash INTEGER PRIMARY KEY,
        hash2 INTEGER NOT NULL,
        time INTEGER NOT NULL
    );
    CREATE TABLE event_key_overflow (
        hash INTEGER NOT NULL,
        hash2 INTEGER NOT NULL,
        time INTEGER NOT NULL,
        PRIMARY KEY (hash, hash2)
    ) WITHOUT ROWID;

    CREATE TABLE ingest_batches (
        id INTEGER PRIMARY KEY,
        input TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        finished_at INTEGER,
        accepted INTEGER NOT NULL DEFAULT 0 CHECK (accepted >= 0),
        duplicates INTEGER NOT NULL DEFAULT 0 CHECK (duplicates >= 0),
        rejected INTEGER NOT NULL DEFAULT 0 CHECK (rejected >= 0)
    );

    -- Usage segments: the aggregate of one ingest batch's events for one subscription, meter,
    -- group-by values and time window. Windows never straddle a billing boundary, so any billing
    -- period is a union of whole windows. Amounts are exact decimals as text.
    -- late: 0 on time, 1 in a period already closed and not yet billed, 2 billed as late usage.
    CREATE TABLE usage_segments (
        subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
        meter_slug TEXT NOT NULL,
        window_start INTEGER NOT NULL,
        group_key TEXT NOT NULL DEFAULT '',
        batch_id INTEGER NOT NULL REFERENCES ingest_batches (id),
        count INTEGER NOT NULL CHECK (count > 0),
        sum TEXT NOT NULL,
        min TEXT NOT NULL,
        max TEXT NOT NULL,
        latest_time INTEGER NOT NULL,
        latest_value TEXT NOT NULL,
        late INTEGER NOT NULL DEFAULT 0 CHECK (late IN (0, 1, 2)),
        PRIMARY KEY (subscription_id, meter_slug, window_start, group_key, batch_id)
    ) WITHOUT ROWID;
    CREATE INDEX usage_segments_late ON usage_segments (late, subscription_id) WHERE late = 1;

    -- The distinct values an UNIQUE_COUNT meter saw, per window.
    CREATE TABLE usage_unique_values (
        subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
        meter_slug TEXT NOT NULL,
        window_start INTEGER NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (subscription_id, meter_slug, window_start, value)
    ) WITHOUT ROWID;

    CREATE TABLE quarantined_events (
        id INTEGER PRIMARY KEY,
        batch_id INTEGER NOT NULL REFERENCES ingest_batches (id),
        line INTEGER NOT NULL,
        reason TEXT NOT NULL,
        raw TEXT NOT NULL
    );

    CREATE TABLE job_runs (
        id INTEGER PRIMARY KEY,
        as_of INTEGER NOT NULL,
        started_at INTEGER NOT NULL,
        finished_at INTEGER,
        status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
        dry_run INTEGER NOT NULL DEFAULT 0 CHECK (dry_run IN (0, 1))
    );

    CREATE TABLE job_stages (
        run_id INTEGER NOT NULL REFERENCES job_runs (id),
        stage TEXT NOT NULL CHECK (stage IN (\(stages))),
        started_at INTEGER NOT NULL,
        finished_at INTEGER,
        status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
        counts TEXT NOT NULL DEFAULT '{}',
        errors TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (run_id, stage)
    );

    CREATE TABLE invoices (
        id TEXT PRIMARY KEY,
        customer_key TEXT NOT NULL REFERENCES customers (key),
        bill_date INTEGER NOT NULL,
        currency TEXT NOT NULL CHECK (length(currency) = 3),
        status TEXT NOT NULL CHECK (status IN (\(invoiceStatuses))),
        subtotal TEXT NOT NULL,
        tax TEXT NOT NULL,
        total TEXT NOT NULL,
        period_start INTEGER,
        period_end INTEGER,
        tax_note TEXT,
        stripe_invoice_id TEXT UNIQUE,
        number TEXT,
        hosted_invoice_url TEXT,
        invoice_pdf TEXT,
        failure_stage TEXT CHECK (failure_stage IS NULL OR failure_stage IN (\(stages))),
        failure_message TEXT,
        failure_request_id TEXT,
        run_id INTEGER REFERENCES job_runs (id),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        UNIQUE (customer_key, bill_date),
        CHECK ((status = 'failed') = (failure_stage IS NOT NULL))
    );
    CREATE INDEX invoices_status ON invoices (status);
    CREATE INDEX invoices_bill_date ON invoices (bill_date);

    CREATE TABLE invoice_lines (
        id TEXT PRIMARY KEY,
        invoice_id TEXT NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
        position INTEGER NOT NULL CHECK (position >= 0),
        kind TEXT NOT NULL CHECK (kind IN (\(lineKinds))),
        subscription_id TEXT REFERENCES subscriptions (id),
        rate_card_key TEXT,
        feature_key TEXT,
        description TEXT NOT NULL,
        period_start INTEGER NOT NULL,
        period_end INTEGER NOT NULL CHECK (period_end >= period_start),
        quantity TEXT,
        amount TEXT NOT NULL,
        tax_behavior TEXT NOT NULL CHECK (tax_behavior IN ('exclusive', 'inclusive')),
        tax_code TEXT,
        tax_amount TEXT NOT NULL DEFAULT '0',
        detail TEXT NOT NULL DEFAULT '',
        UNIQUE (invoice_id, position)
    );
    CREATE INDEX invoice_lines_charge ON invoice_lines (subscription_id, rate_card_key, period_start);

    -- Each (subscription, bill date) is closed at most once; rated once its customer's invoice
    -- for that bill date is made (or found to have no lines).
    CREATE TABLE period_closes (
        subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
        bill_date INTEGER NOT NULL,
        customer_key TEXT NOT NULL REFERENCES customers (key),
        run_id INTEGER NOT NULL REFERENCES job_runs (id),
        rated_run_id INTEGER REFERENCES job_runs (id),
        invoice_id TEXT REFERENCES invoices (id),
        PRIMARY KEY (subscription_id, bill_date)
    );
    CREATE INDEX period_closes_unrated ON period_closes (customer_key, bill_date) WHERE rated_run_id IS NULL;

    -- Credits an invoice could not absorb. consumed_bill_date: the bill date whose invoice took
    -- it (wholly; what was left of it is a new row).
    CREATE TABLE carried_credits (
        id INTEGER PRIMARY KEY,
        customer_key TEXT NOT NULL REFERENCES customers (key),
        origin_bill_date INTEGER NOT NULL,
        created_bill_date INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN (\(lineKinds))),
        subscription_id TEXT REFERENCES subscriptions (id),
        rate_card_key TEXT,
        feature_key TEXT,
        description TEXT NOT NULL,
        period_start INTEGER NOT NULL,
        period_end INTEGER NOT NULL,
        amount TEXT NOT NULL,
        tax_behavior TEXT NOT NULL CHECK (tax_behavior IN ('exclusive', 'inclusive')),
        tax_code TEXT,
        detail TEXT NOT NULL DEFAULT '',
        consumed_bill_date INTEGER
    );
    CREATE INDEX carried_credits_open ON carried_credits (customer_key) WHERE consumed_bill_date IS NULL;

    CREATE TABLE adjustments (
        id TEXT PRIMARY KEY,
        customer_key TEXT NOT NULL REFERENCES customers (key),
        amount TEXT NOT NULL,
        reason TEXT NOT NULL CHECK (length(reason) > 0),
        created_at INTEGER NOT NULL,
        invoice_id TEXT REFERENCES invoices (id)
    );
    """

    /// De-duplication keys move from one row per event (a random-key B-tree insert each, the
    /// slowest part of ingest) to blocks: per UTC day of event time and ingest batch, one blob of
    /// 16-byte keys. Ingest loads the days an input touches into memory and appends one block per
    /// day and transaction.
    static let version2 = """
    CREATE TABLE event_key_blocks (
        id INTEGER PRIMARY KEY,
        day INTEGER NOT NULL,
        batch_id INTEGER REFERENCES ingest_batches (id),
        keys BLOB NOT NULL CHECK (length(keys) % 16 = 0)
    );
    CREATE INDEX event_key_blocks_day ON event_key_blocks (day);

    -- SQLite builds a temporary B-tree to test `late IN (0, 1, 2)` on every insert, the largest
    -- cost of writing segments; three comparisons say the same.
    CREATE TABLE usage_segments_new (
        subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
        meter_slug TEXT NOT NULL,
        window_start INTEGER NOT NULL,
        group_key TEXT NOT NULL DEFAULT '',
        batch_id INTEGER NOT NULL REFERENCES ingest_batches (id),
        count INTEGER NOT NULL CHECK (count > 0),
        sum TEXT NOT NULL,
        min TEXT NOT NULL,
        max TEXT NOT NULL,
        latest_time INTEGER NOT NULL,
        latest_value TEXT NOT NULL,
        late INTEGER NOT NULL DEFAULT 0 CHECK (late = 0 OR late = 1 OR late = 2),
        PRIMARY KEY (subscription_id, meter_slug, window_start, group_key, batch_id)
    ) WITHOUT ROWID;
    INSERT INTO usage_segments_new SELECT subscription_id, meter_slug, window_start, group_key, batch_id, count, sum, min, max,
                                          latest_time, latest_value, late FROM usage_segments;
    DROP TABLE usage_segments;
    ALTER TABLE usage_segments_new RENAME TO usage_segments;
    CREATE INDEX usage_segments_late ON usage_segments (late, subscription_id) WHERE late = 1;
    """

    /// Issuing to Stripe and collecting payment state. Every Stripe object Tollbooth makes is
    /// recorded against the local row it stands for, and a request is recorded before it is sent
    /// (`requested_at`, `issue_started_at`), so a run that died between Stripe's answer and the
    /// local write knows to look the object up in Stripe before creating it.
    static let version3 = """
    -- The Stripe Customer of each customer, per Stripe account. stripe_id stays NULL from the
    -- moment its creation is requested until Stripe's answer is stored.
    CREATE TABLE stripe_customers (
        customer_key TEXT NOT NULL REFERENCES customers (key),
        account TEXT NOT NULL,
        stripe_id TEXT UNIQUE,
        requested_at INTEGER NOT NULL,
        created_at INTEGER,
        -- A digest of the name, email, address, tax exemption and tax ids last sent to Stripe:
        -- when the customer's differ, the Stripe Customer is updated before the next call for it.
        synced_digest TEXT,
        PRIMARY KEY (customer_key, account)
    );

    ALTER TABLE invoice_lines ADD COLUMN stripe_item_id TEXT;
    CREATE UNIQUE INDEX invoice_lines_stripe_item ON invoice_lines (stripe_item_id) WHERE stripe_item_id IS NOT NULL;

    -- The rate the tax stage applied, so the issue stage describes the same tax to Stripe.
    ALTER TABLE invoices ADD COLUMN tax_rate TEXT;
    ALTER TABLE invoices ADD COLUMN tax_rate_name TEXT;
    ALTER TABLE invoices ADD COLUMN tax_country TEXT;
    ALTER TABLE invoices ADD COLUMN tax_state TEXT;
    -- With tax.provider stripe: the Tax Calculation that gave the lines' tax, and the Tax
    -- Transaction recorded from it once the invoice was issued.
    ALTER TABLE invoices ADD COLUMN tax_calculation_id TEXT;
    ALTER TABLE invoices ADD COLUMN tax_transaction_id TEXT;
    -- Issuing: the account, when the first call was made, how many times `rerun` resumed it
    -- (a new generation of idempotency keys each), when it was finalized.
    ALTER TABLE invoices ADD COLUMN stripe_account TEXT;
    ALTER TABLE invoices ADD COLUMN issue_started_at INTEGER;
    ALTER TABLE invoices ADD COLUMN issue_generation INTEGER NOT NULL DEFAULT 0 CHECK (issue_generation >= 0);
    ALTER TABLE invoices ADD COLUMN issued_at INTEGER;
    -- Payment state pulled back from Stripe, and when each change was first seen.
    ALTER TABLE invoices ADD COLUMN stripe_status TEXT;
    ALTER TABLE invoices ADD COLUMN amount_due INTEGER;
    ALTER TABLE invoices ADD COLUMN amount_paid INTEGER;
    ALTER TABLE invoices ADD COLUMN starting_balance INTEGER;
    ALTER TABLE invoices ADD COLUMN attempt_count INTEGER NOT NULL DEFAULT 0 CHECK (attempt_count >= 0);
    ALTER TABLE invoices ADD COLUMN next_payment_attempt INTEGER;
    ALTER TABLE invoices ADD COLUMN paid_at INTEGER;
    ALTER TABLE invoices ADD COLUMN payment_failed_at INTEGER;
    ALTER TABLE invoices ADD COLUMN uncollectible_at INTEGER;
    ALTER TABLE invoices ADD COLUMN voided_at INTEGER;
    ALTER TABLE invoices ADD COLUMN collected_at INTEGER;
    -- Stripe's total as Stripe last reported it (finalize, collect, reconcile), in minor units.
    ALTER TABLE invoices ADD COLUMN stripe_total INTEGER;
    ALTER TABLE invoices ADD COLUMN void_reason TEXT;

    -- The lines of a voided invoice, billed again on the customer's first invoice for a bill
    -- date at or after the void (invoice_id, once rated).
    CREATE TABLE rebilled_lines (
        line_id TEXT PRIMARY KEY REFERENCES invoice_lines (id),
        customer_key TEXT NOT NULL REFERENCES customers (key),
        voided_at INTEGER NOT NULL,
        invoice_id TEXT REFERENCES invoices (id)
    );
    CREATE INDEX rebilled_lines_open ON rebilled_lines (customer_key) WHERE invoice_id IS NULL;

    -- The reconcile stage: each comparison of the local invoices of a range of bill dates with
    -- Stripe, and every difference it found. Differences are recorded, never corrected.
    CREATE TABLE reconciliations (
        id INTEGER PRIMARY KEY,
        run_id INTEGER REFERENCES job_runs (id),
        from_bill_date INTEGER NOT NULL,
        to_bill_date INTEGER NOT NULL CHECK (to_bill_date > from_bill_date),
        account TEXT NOT NULL,
        compared INTEGER NOT NULL DEFAULT 0 CHECK (compared >= 0),
        finished_at INTEGER,
        created_at INTEGER NOT NULL
    );
    -- kind: missing_in_stripe, currency, total, item_count, status, orphan (a Stripe invoice
    -- naming a Tollbooth invoice the store does not have), carried_balance (a customer balance
    -- Stripe applied: explained, shown as such).
    CREATE TABLE reconciliation_differences (
        id INTEGER PRIMARY KEY,
        reconciliation_id INTEGER NOT NULL REFERENCES reconciliations (id),
        invoice_id TEXT,
        stripe_invoice_id TEXT,
        customer_key TEXT,
        kind TEXT NOT NULL CHECK (kind IN ('missing_in_stripe', 'currency', 'total', 'item_count', 'status', 'orphan', 'carried_balance')),
        local_value TEXT,
        stripe_value TEXT,
        detail TEXT NOT NULL
    );
    CREATE INDEX reconciliation_differences_run ON reconciliation_differences (reconciliation_id);
    """

    /// Commands that overlap: a run killed with -9 is marked abandoned by the next one, and
    /// the ingest learns that another writer changed what it attributes events with.
    static let version4 = """
    CREATE TABLE job_runs_new (
        id INTEGER PRIMARY KEY,
        as_of INTEGER NOT NULL,
        started_at INTEGER NOT NULL,
        finished_at INTEGER,
        status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'abandoned')),
        dry_run INTEGER NOT NULL DEFAULT 0 CHECK (dry_run IN (0, 1))
    );
    INSERT INTO job_runs_new SELECT id, as_of, started_at, finished_at, status, dry_run FROM job_runs;
    DROP TABLE job_runs;
    ALTER TABLE job_runs_new RENAME TO job_runs;

    CREATE TABLE job_stages_new (
        run_id INTEGER NOT NULL REFERENCES job_runs (id),
        stage TEXT NOT NULL CHECK (stage IN (\(stages))),
        started_at INTEGER NOT NULL,
        finished_at INTEGER,
        status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'abandoned')),
        counts TEXT NOT NULL DEFAULT '{}',
        errors TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (run_id, stage)
    );
    INSERT INTO job_stages_new SELECT run_id, stage, started_at, finished_at, status, counts, errors FROM job_stages;
    DROP TABLE job_stages;
    ALTER TABLE job_stages_new RENAME TO job_stages;

    -- Counters moved by triggers whenever what they name changes, so a long-running writer (an
    -- ingest, the server) knows to read it again. attribution: the catalog's meters, the
    -- subscriptions and the customers' subjects, what events are attributed with.
    CREATE TABLE change_counters (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO change_counters (name, value) VALUES ('attribution', 0);
    \(["meters", "subscriptions", "customer_subjects"].flatMap { table in
        ["INSERT", "UPDATE", "DELETE"].map { event in
            """
            CREATE TRIGGER \(table)_\(event.lowercased())_attribution AFTER \(event) ON \(table)
            BEGIN UPDATE change_counters SET value = value + 1 WHERE name = 'attribution'; END;
            """
        }
    }.joined(separator: "\n"))
    """

    /// The server's credentials: service tokens for the gateway and operators' tools, API keys
    /// for the customers' API consumers. Only a SHA-256 digest of each secret is stored.
    static let version6 = """
    CREATE TABLE service_tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL DEFAULT '',
        scope TEXT NOT NULL CHECK (scope IN ('ingest', 'check', 'admin')),
        digest TEXT NOT NULL UNIQUE,
        last4 TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
    );
    -- A key's id is also one of its customer's usage subjects (events may name it).
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        customer_key TEXT NOT NULL REFERENCES customers (key),
        digest TEXT NOT NULL UNIQUE,
        last4 TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
    );
    CREATE INDEX api_keys_customer ON api_keys (customer_key);

    -- credentials: tokens and keys; payments: invoices (their payment state decides access);
    -- closes: periods closed (events in them are late from then on).
    INSERT INTO change_counters (name, value) VALUES ('credentials', 0), ('payments', 0), ('closes', 0);
    CREATE TRIGGER period_closes_insert_closes AFTER INSERT ON period_closes
    BEGIN UPDATE change_counters SET value = value + 1 WHERE name = 'closes'; END;
    \(["service_tokens", "api_keys"].flatMap { table in
        ["INSERT", "UPDATE", "DELETE"].map { event in
            """
            CREATE TRIGGER \(table)_\(event.lowercased())_credentials AFTER \(event) ON \(table)
            BEGIN UPDATE change_counters SET value = value + 1 WHERE name = 'credentials'; END;
            """
        }
    }.joined(separator: "\n"))
    CREATE TRIGGER invoices_insert_payments AFTER INSERT ON invoices
    BEGIN UPDATE change_counters SET value = value + 1 WHERE name = 'payments'; END;
    CREATE TRIGGER invoices_status_payments AFTER UPDATE OF status, payment_failed_at ON invoices
    BEGIN UPDATE change_counters SET value = value + 1 WHERE name = 'payments'; END;
    """

    /// Signed usage links: the one key that signs them (HMAC-SHA256), made on first use. Kept
    /// with the data it opens, so every process on the database signs and verifies alike.
    static let version7 = """
    CREATE TABLE usage_link_keys (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        key BLOB NOT NULL CHECK (length(key) = 32),
        created_at INTEGER NOT NULL
    );
    """

    /// The server's usage: its group commits append segment rows to `usage_log` in commit order
    /// (a commit of events for many subscriptions writes a few pages at the log's end rather
    /// than a row into every subscription's part of the segments), and `SQLiteStore.foldUsageLog`
    /// adds them up in the background into `usage_live`, one row per window and lateness however
    /// many commits fed it. Readers read all three (`usage_rows`).
    static let version8 = """
    -- No foreign keys: rows come from the ingest, which attributes each to a subscription and
    -- its batch in the same transaction; usage_live checks both when they are folded into it.
    CREATE TABLE usage_log (
        id INTEGER PRIMARY KEY,
        subscription_id TEXT NOT NULL,
        meter_slug TEXT NOT NULL,
        window_start INTEGER NOT NULL,
        group_key TEXT NOT NULL DEFAULT '',
        batch_id INTEGER NOT NULL,
        count INTEGER NOT NULL CHECK (count > 0),
        sum TEXT NOT NULL,
        min TEXT NOT NULL,
        max TEXT NOT NULL,
        latest_time INTEGER NOT NULL,
        latest_value TEXT NOT NULL,
        late INTEGER NOT NULL DEFAULT 0 CHECK (late IN (0, 1, 2))
    );
    -- The server's usage added up: one row per window, group and lateness; batch_id is the
    -- newest batch folded into it.
    CREATE TABLE usage_live (
        subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
        meter_slug TEXT NOT NULL,
        window_start INTEGER NOT NULL,
        group_key TEXT NOT NULL DEFAULT '',
        late INTEGER NOT NULL CHECK (late IN (0, 1, 2)),
        batch_id INTEGER NOT NULL REFERENCES ingest_batches (id),
        count INTEGER NOT NULL CHECK (count > 0),
        sum TEXT NOT NULL,
        min TEXT NOT NULL,
        max TEXT NOT NULL,
        latest_time INTEGER NOT NULL,
        latest_value TEXT NOT NULL,
        PRIMARY KEY (subscription_id, meter_slug, window_start, group_key, late)
    ) WITHOUT ROWID;
    -- Every segment row, folded or not: what an operator's query of usage should read.
    CREATE VIEW usage_rows AS
        SELECT subscription_id, meter_slug, window_start, group_key, batch_id, count, sum, min, max, latest_time, latest_value, late
        FROM usage_segments
        UNION ALL
        SELECT subscription_id, meter_slug, window_start, group_key, batch_id, count, sum, min, max, latest_time, latest_value, late
        FROM usage_live
        UNION ALL
        SELECT subscription_id, meter_slug, window_start, group_key, batch_id, count, sum, min, max, latest_time, latest_value, late
        FROM usage_log;
    """

    /// Stripe, live: the webhook inbox, the newest Stripe event applied to each invoice, and
    /// subscriptions waiting for a payment method saved through Checkout.
    static let version9 = """
    -- Stripe's events as delivered to the webhook route, kept by id: a repeat is answered and
    -- not applied again. applied_at is set once the event was applied or deliberately ignored
    -- (outcome says which); an event whose invoice is not issued yet waits, and is tried again.
    CREATE TABLE stripe_events (
        id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        account TEXT,
        object_id TEXT,
        created INTEGER NOT NULL,
        livemode INTEGER NOT NULL CHECK (livemode IN (0, 1)),
        payload TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        applied_at INTEGER,
        outcome TEXT
    );
    CREATE INDEX stripe_events_waiting ON stripe_events (received_at) WHERE applied_at IS NULL;
    -- The `created` time of the newest Stripe event applied to the invoice: an older one that
    -- would move its state back changes nothing.
    ALTER TABLE invoices ADD COLUMN stripe_event_created INTEGER;

    -- A subscription asked for through the server for a customer with no saved payment method:
    -- it waits for the Checkout Session (setup mode) to complete, and then starts under the
    -- same id. The API key made for the customer then is shown once (api_key_secret is cleared
    -- by the first read).
    CREATE TABLE subscription_requests (
        id TEXT PRIMARY KEY,
        customer_key TEXT NOT NULL REFERENCES customers (key),
        plan_key TEXT NOT NULL,
        plan_version INTEGER NOT NULL,
        anchor INTEGER,
        status TEXT NOT NULL CHECK (status IN ('pending_payment', 'started', 'expired', 'cancelled', 'failed')),
        checkout_session_id TEXT UNIQUE,
        checkout_url TEXT,
        checkout_expires_at INTEGER,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        api_key_id TEXT,
        api_key_secret TEXT,
        failure TEXT,
        FOREIGN KEY (plan_key, plan_version) REFERENCES plans (key, version)
    );
    CREATE INDEX subscription_requests_customer ON subscription_requests (customer_key, status);
    """

    /// Rewrites version 1's per-event keys as blocks, then drops the old tables.
    static func moveEventKeysIntoBlocks(_ database: Database) throws {
        var days: [Int64: [UInt64]] = [:]
        let rows = try database.prepare("""
            SELECT hash, hash2, time FROM event_keys UNION ALL SELECT hash, hash2, time FROM event_key_overflow
            """)
        while let row = try rows.next() {
            guard let hash = row.int(0), let hash2 = row.int(1), let time = row.int(2) else { continue }
            days[EventKeyBlock.day(of: time), default: []] += [UInt64(bitPattern: hash), UInt64(bitPattern: hash2)]
        }
        for (day, keys) in days {
            try database.run("INSERT INTO event_key_blocks (day, batch_id, keys) VALUES (?, NULL, ?)", [.integer(day), .blob(EventKeyBlock.encode(keys))])
        }
        try database.execute("DROP TABLE event_keys; DROP TABLE event_key_overflow;")
    }

    /// Lines sent to Stripe in bulk, the payment method Stripe charges a customer, and why a
    /// payment failed.
    static let version5 = """
    -- The add_lines call (its idempotency key) that put the line on its Stripe invoice; its item
    -- id is stripe_item_id when a later lookup read it. Either means the line is on Stripe.
    ALTER TABLE invoice_lines ADD COLUMN stripe_lines_key TEXT;
    -- The Customer's invoice_settings.default_payment_method as last set or seen, and whether the
    -- issue stage should look for a saved card to make the default: yes until it has looked once,
    -- and again after each payment or portal link, where a customer may save one.
    ALTER TABLE stripe_customers ADD COLUMN default_payment_method TEXT;
    ALTER TABLE stripe_customers ADD COLUMN payment_methods_to_check INTEGER NOT NULL DEFAULT 1
        CHECK (payment_methods_to_check IN (0, 1));
    -- Why the last payment attempt failed, when the collect stage can tell (a payment waiting
    -- for the customer's authentication, with the hosted invoice link); NULL otherwise.
    ALTER TABLE invoices ADD COLUMN payment_failure_reason TEXT;
    """

    /// The `payments` counter moves only for what payment access reads: an invoice entering or
    /// leaving `payment_failed` or `uncollectible`, or its first payment failure's time. Every
    /// other status change (a bill run's rated -> taxed -> issued for each invoice) leaves it, and
    /// the servers' access state, alone.
    static let version10 = """
    DROP TRIGGER invoices_insert_payments;
    DROP TRIGGER invoices_status_payments;
    CREATE TRIGGER invoices_insert_payments AFTER INSERT ON invoices
    WHEN NEW.status IN ('payment_failed', 'uncollectible')
    BEGIN UPDATE change_counters SET value = value + 1 WHERE name = 'payments'; END;
    CREATE TRIGGER invoices_status_payments AFTER UPDATE OF status, payment_failed_at ON invoices
    WHEN OLD.status IN ('payment_failed', 'uncollectible') OR NEW.status IN ('payment_failed', 'uncollectible')
        OR OLD.payment_failed_at IS NOT NEW.payment_failed_at
    BEGIN UPDATE change_counters SET value = value + 1 WHERE name = 'payments'; END;
    """

    /// Version 11 is PostgreSQL's usage counters, which servers sharing one database decide
    /// consuming checks by. A SQLite database has one server, which counts in memory: nothing
    /// changes here, and the versions of both dialects stay in step.
    static let version11 = "SELECT 1"

    /// Bill-run workers: the customers each stage has left and who holds them, the workers'
    /// leases, and one invoice per customer and bill date said in an index.
    static let version12 = """
    CREATE TABLE run_work (
        stage TEXT NOT NULL CHECK (stage IN (\(stages))),
        customer_key TEXT NOT NULL,
        owner TEXT,
        lease_until INTEGER,
        PRIMARY KEY (stage, customer_key)
    );
    CREATE INDEX run_work_owner ON run_work (owner);
    CREATE TABLE run_leases (
        owner TEXT PRIMARY KEY,
        lease_until INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX invoices_one_per_bill_date ON invoices (customer_key, bill_date);
    """

    /// A bill-run worker's run names its worker, so that a worker starting can tell its fellow
    /// workers' runs (their leases alive) from runs whose process died. (PostgreSQL's change
    /// counters also move once per transaction from this version; SQLite's row triggers update
    /// the counter's one row in place and stay as they are.)
    static let version13 = "ALTER TABLE job_runs ADD COLUMN worker TEXT"
}

/// The database was written by a newer Tollbooth: refused, and left as it is.
public struct SchemaVersionError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let found: Int
    public let known: Int

    public var description: String {
        "the database \(path) is at schema version \(found), newer than the \(known) this tollbooth knows: use the tollbooth that wrote it (nothing was changed)"
    }
}
