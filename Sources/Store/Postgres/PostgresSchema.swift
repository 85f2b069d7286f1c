import Foundation

/// The schema in PostgreSQL's dialect. Its versions count with SQLite's: the first one here is
/// the whole of SQLite's version 9 at once (a new PostgreSQL database has no history to replay),
/// and each later version is added to both lists together. Migrations run in order when a store
/// opens, each in its own transaction (PostgreSQL's DDL is transactional), recorded in
/// `schema_migrations`; a database that a newer Tollbooth migrated is refused before anything
/// is written. Two processes opening a new database at once take turns under an advisory lock.
enum PostgresSchema {
    static let migrations: [(version: Int, sql: String)] = [
        (9, baseline),
        (10, version10),
        (11, version11),
        (12, version12),
        (13, version13),
    ]

    static var latestVersion: Int { migrations.map(\.version).max() ?? 0 }

    /// The advisory lock that migrations hold, a constant of this program ("tollbooth" in ASCII).
    static let migrationLock: Int64 = 0x746f6c6c626f6f74

    static func migrate(_ session: PostgresSession) throws {
        // Already at this version (every open but the first): nothing to do, and no write
        // transaction, whose lock would make every open, a reader's too, wait for another
        // process's write transaction to end.
        if try session.first("SELECT to_regclass('schema_migrations') IS NOT NULL")?.int(0) == 1,
           Int(try session.first("SELECT coalesce(max(version), 0) FROM schema_migrations")?.int(0) ?? 0) == latestVersion {
            return
        }
        try session.transaction {
            _ = try session.query("SELECT pg_advisory_xact_lock(?)", [.integer(migrationLock)])
            try session.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
            let found = Int(try session.first("SELECT coalesce(max(version), 0) FROM schema_migrations")?.int(0) ?? 0)
            if found > latestVersion {
                throw SchemaVersionError(path: session.location.description, found: found, known: latestVersion)
            }
            for migration in migrations where migration.version > found {
                try session.execute(migration.sql)
                try session.run("INSERT INTO schema_migrations (version, applied_at) VALUES (?, extract(epoch FROM now())::bigint)",
                                [.integer(Int64(migration.version))])
            }
        }
    }

    static let invoiceStatuses = Schema.invoiceStatuses
    static let lineKinds = Schema.lineKinds
    static let stages = Schema.stages

    /// SQLite's version 9, table by table in the same order of meaning; times are whole UTC
    /// seconds (BIGINT), amounts exact decimal text, blobs BYTEA. Change counters move by the
    /// rows each statement changed, as SQLite's row triggers move them. Every text
    /// column compares and sorts by its bytes (`COLLATE "C"`), as SQLite's do, whatever the
    /// database's own locale: listings come out in the same order from both backends.
    static let baseline = baselineColumns.replacingOccurrences(of: " TEXT", with: " TEXT COLLATE \"C\"")

    private static let baselineColumns = """
    CREATE TABLE meters (
        slug TEXT PRIMARY KEY,
        event_type TEXT NOT NULL,
        json TEXT NOT NULL,
        imported_at BIGINT NOT NULL
    );
    CREATE INDEX meters_event_type ON meters (event_type);
    CREATE TABLE features (
        key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        meter_slug TEXT REFERENCES meters (slug),
        imported_at BIGINT NOT NULL
    );
    CREATE TABLE plans (
        key TEXT NOT NULL,
        version BIGINT NOT NULL CHECK (version >= 1),
        name TEXT NOT NULL,
        currency TEXT NOT NULL CHECK (length(currency) = 3),
        json TEXT NOT NULL,
        imported_at BIGINT NOT NULL,
        PRIMARY KEY (key, version)
    );
    CREATE TABLE customers (
        key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        email TEXT,
        currency TEXT CHECK (currency IS NULL OR length(currency) = 3),
        json TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    );
    CREATE TABLE customer_subjects (
        subject TEXT PRIMARY KEY,
        customer_key TEXT NOT NULL REFERENCES customers (key) ON DELETE CASCADE
    );
    CREATE INDEX customer_subjects_customer ON customer_subjects (customer_key);
    CREATE TABLE subscriptions (
        id TEXT PRIMARY KEY,
        customer_key TEXT NOT NULL REFERENCES customers (key),
        plan_key TEXT NOT NULL,
        plan_version BIGINT NOT NULL,
        anchor BIGINT NOT NULL,
        start BIGINT NOT NULL,
        "end" BIGINT CHECK ("end" IS NULL OR "end" >= start),
        predecessor_id TEXT UNIQUE REFERENCES subscriptions (id),
        successor_id TEXT UNIQUE REFERENCES subscriptions (id),
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        FOREIGN KEY (plan_key, plan_version) REFERENCES plans (key, version)
    );
    CREATE INDEX subscriptions_customer ON subscriptions (customer_key, start);
    CREATE TABLE ingest_batches (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        input TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        finished_at BIGINT,
        accepted BIGINT NOT NULL DEFAULT 0 CHECK (accepted >= 0),
        duplicates BIGINT NOT NULL DEFAULT 0 CHECK (duplicates >= 0),
        rejected BIGINT NOT NULL DEFAULT 0 CHECK (rejected >= 0)
    );
    CREATE TABLE usage_unique_values (
        subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
        meter_slug TEXT NOT NULL,
        window_start BIGINT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (subscription_id, meter_slug, window_start, value)
    );
    CREATE TABLE quarantined_events (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        batch_id BIGINT NOT NULL REFERENCES ingest_batches (id),
        line BIGINT NOT NULL,
        -- Bytes, UTF-8: a quarantined line may hold NUL characters, which TEXT cannot.
        reason BYTEA NOT NULL,
        raw BYTEA NOT NULL
    );
    CREATE TABLE job_runs (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        as_of BIGINT NOT NULL,
        started_at BIGINT NOT NULL,
        finished_at BIGINT,
        status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'abandoned')),
        dry_run BIGINT NOT NULL DEFAULT 0 CHECK (dry_run IN (0, 1))
    );
    CREATE TABLE job_stages (
        run_id BIGINT NOT NULL REFERENCES job_runs (id),
        stage TEXT NOT NULL CHECK (stage IN (\(stages))),
        started_at BIGINT NOT NULL,
        finished_at BIGINT,
        status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'abandoned')),
        counts TEXT NOT NULL DEFAULT '{}',
        errors TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (run_id, stage)
    );
    CREATE TABLE invoices (
        id TEXT PRIMARY KEY,
        customer_key TEXT NOT NULL REFERENCES customers (key),
        bill_date BIGINT NOT NULL,
        currency TEXT NOT NULL CHECK (length(currency) = 3),
        status TEXT NOT NULL CHECK (status IN (\(invoiceStatuses))),
        subtotal TEXT NOT NULL,
        tax TEXT NOT NULL,
        total TEXT NOT NULL,
        period_start BIGINT,
        period_end BIGINT,
        tax_note TEXT,
        stripe_invoice_id TEXT UNIQUE,
        number TEXT,
        hosted_invoice_url TEXT,
        invoice_pdf TEXT,
        failure_stage TEXT CHECK (failure_stage IS NULL OR failure_stage IN (\(stages))),
        failure_message TEXT,
        failure_request_id TEXT,
        run_id BIGINT REFERENCES job_runs (id),
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        tax_rate TEXT,
        tax_rate_name TEXT,
        tax_country TEXT,
        tax_state TEXT,
        tax_calculation_id TEXT,
        tax_transaction_id TEXT,
        stripe_account TEXT,
        issue_started_at BIGINT,
        issue_generation BIGINT NOT NULL DEFAULT 0 CHECK (issue_generation >= 0),
        issued_at BIGINT,
        stripe_status TEXT,
        amount_due BIGINT,
        amount_paid BIGINT,
        starting_balance BIGINT,
        attempt_count BIGINT NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
        next_payment_attempt BIGINT,
        paid_at BIGINT,
        payment_failed_at BIGINT,
        uncollectible_at BIGINT,
        voided_at BIGINT,
        collected_at BIGINT,
        stripe_total BIGINT,
        void_reason TEXT,
        payment_failure_reason TEXT,
        stripe_event_created BIGINT,
        UNIQUE (customer_key, bill_date),
        CHECK ((status = 'failed') = (failure_stage IS NOT NULL))
    );
    CREATE INDEX invoices_status ON invoices (status);
    CREATE INDEX invoices_bill_date ON invoices (bill_date);
    CREATE TABLE invoice_lines (
        id TEXT PRIMARY KEY,
        invoice_id TEXT NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
        position BIGINT NOT NULL CHECK (position >= 0),
        kind TEXT NOT NULL CHECK (kind IN (\(lineKinds))),
        subscription_id TEXT REFERENCES subscriptions (id),
        rate_card_key TEXT,
        feature_key TEXT,
        description TEXT NOT NULL,
        period_start BIGINT NOT NULL,
        period_end BIGINT NOT NULL CHECK (period_end >= period_start),
        quantity TEXT,
        amount TEXT NOT NULL,
        tax_behavior TEXT NOT NULL CHECK (tax_behavior IN ('exclusive', 'inclusive')),
        tax_code TEXT,
        tax_amount TEXT NOT NULL DEFAULT '0',
        detail TEXT NOT NULL DEFAULT '',
        stripe_item_id TEXT,
        stripe_lines_key TEXT,
        UNIQUE (invoice_id, position)
    );
    CREATE INDEX invoice_lines_charge ON invoice_lines (subscription_id, rate_card_key, period_start);
    CREATE UNIQUE INDEX invoice_lines_stripe_item ON invoice_lines (stripe_item_id) WHERE stripe_item_id IS NOT NULL;
    CREATE TABLE period_closes (
        subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
        bill_date BIGINT NOT NULL,
        customer_key TEXT NOT NULL REFERENCES customers (key),
        run_id BIGINT NOT NULL REFERENCES job_runs (id),
        rated_run_id BIGINT REFERENCES job_runs (id),
        invoice_id TEXT REFERENCES invoices (id),
        PRIMARY KEY (subscription_id, bill_date)
    );
    CREATE INDEX period_closes_unrated ON period_closes (customer_key, bill_date) WHERE rated_run_id IS NULL;
    CREATE TABLE carried_credits (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        customer_key TEXT NOT NULL REFERENCES customers (key),
        origin_bill_date BIGINT NOT NULL,
        created_bill_date BIGINT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN (\(lineKinds))),
        subscription_id TEXT REFERENCES subscriptions (id),
        rate_card_key TEXT,
        feature_key TEXT,
        description TEXT NOT NULL,
        period_start BIGINT NOT NULL,
        period_end BIGINT NOT NULL,
        amount TEXT NOT NULL,
        tax_behavior TEXT NOT NULL CHECK (tax_behavior IN ('exclusive', 'inclusive')),
        tax_code TEXT,
        detail TEXT NOT NULL DEFAULT '',
        consumed_bill_date BIGINT
    );
    CREATE INDEX carried_credits_open ON carried_credits (customer_key) WHERE consumed_bill_date IS NULL;
    CREATE TABLE adjustments (
        id TEXT PRIMARY KEY,
        customer_key TEXT NOT NULL REFERENCES customers (key),
        amount TEXT NOT NULL,
        reason TEXT NOT NULL CHECK (length(reason) > 0),
        created_at BIGINT NOT NULL,
        invoice_id TEXT REFERENCES invoices (id)
    );
    CREATE TABLE event_key_blocks (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        day BIGINT NOT NULL,
        batch_id BIGINT REFERENCES ingest_batches (id),
        keys BYTEA NOT NULL CHECK (octet_length(keys) % 16 = 0)
    );
    CREATE INDEX event_key_blocks_day ON event_key_blocks (day);
    CREATE TABLE usage_segments (
        subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
        meter_slug TEXT NOT NULL,
        window_start BIGINT NOT NULL,
        group_key TEXT NOT NULL DEFAULT '',
        batch_id BIGINT NOT NULL REFERENCES ingest_batches (id),
        count BIGINT NOT NULL CHECK (count > 0),
        sum TEXT NOT NULL,
        min TEXT NOT NULL,
        max TEXT NOT NULL,
        latest_time BIGINT NOT NULL,
        latest_value TEXT NOT NULL,
        late BIGINT NOT NULL DEFAULT 0 CHECK (late IN (0, 1, 2)),
        PRIMARY KEY (subscription_id, meter_slug, window_start, group_key, batch_id)
    );
    CREATE INDEX usage_segments_late ON usage_segments (late, subscription_id) WHERE late = 1;
    CREATE TABLE usage_log (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        subscription_id TEXT NOT NULL,
        meter_slug TEXT NOT NULL,
        window_start BIGINT NOT NULL,
        group_key TEXT NOT NULL DEFAULT '',
        batch_id BIGINT NOT NULL,
        count BIGINT NOT NULL CHECK (count > 0),
        sum TEXT NOT NULL,
        min TEXT NOT NULL,
        max TEXT NOT NULL,
        latest_time BIGINT NOT NULL,
        latest_value TEXT NOT NULL,
        late BIGINT NOT NULL DEFAULT 0 CHECK (late IN (0, 1, 2))
    );
    CREATE TABLE usage_live (
        subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
        meter_slug TEXT NOT NULL,
        window_start BIGINT NOT NULL,
        group_key TEXT NOT NULL DEFAULT '',
        late BIGINT NOT NULL CHECK (late IN (0, 1, 2)),
        batch_id BIGINT NOT NULL REFERENCES ingest_batches (id),
        count BIGINT NOT NULL CHECK (count > 0),
        sum TEXT NOT NULL,
        min TEXT NOT NULL,
        max TEXT NOT NULL,
        latest_time BIGINT NOT NULL,
        latest_value TEXT NOT NULL,
        PRIMARY KEY (subscription_id, meter_slug, window_start, group_key, late)
    );
    CREATE VIEW usage_rows AS
        SELECT subscription_id, meter_slug, window_start, group_key, batch_id, count, sum, min, max, latest_time, latest_value, late
        FROM usage_segments
        UNION ALL
        SELECT subscription_id, meter_slug, window_start, group_key, batch_id, count, sum, min, max, latest_time, latest_value, late
        FROM usage_live
        UNION ALL
        SELECT subscription_id, meter_slug, window_start, group_key, batch_id, count, sum, min, max, latest_time, latest_value, late
        FROM usage_log;
    CREATE TABLE stripe_customers (
        customer_key TEXT NOT NULL REFERENCES customers (key),
        account TEXT NOT NULL,
        stripe_id TEXT UNIQUE,
        requested_at BIGINT NOT NULL,
        created_at BIGINT,
        -- A digest of the name, email, address, tax exemption and tax ids last sent to Stripe.
        synced_digest TEXT,
        default_payment_method TEXT,
        payment_methods_to_check BIGINT NOT NULL DEFAULT 1 CHECK (payment_methods_to_check IN (0, 1)),
        PRIMARY KEY (customer_key, account)
    );
    CREATE TABLE rebilled_lines (
        line_id TEXT PRIMARY KEY REFERENCES invoice_lines (id),
        customer_key TEXT NOT NULL REFERENCES customers (key),
        voided_at BIGINT NOT NULL,
        invoice_id TEXT REFERENCES invoices (id)
    );
    CREATE INDEX rebilled_lines_open ON rebilled_lines (customer_key) WHERE invoice_id IS NULL;
    CREATE TABLE reconciliations (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        run_id BIGINT REFERENCES job_runs (id),
        from_bill_date BIGINT NOT NULL,
        to_bill_date BIGINT NOT NULL CHECK (to_bill_date > from_bill_date),
        account TEXT NOT NULL,
        compared BIGINT NOT NULL DEFAULT 0 CHECK (compared >= 0),
        finished_at BIGINT,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE reconciliation_differences (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        reconciliation_id BIGINT NOT NULL REFERENCES reconciliations (id),
        invoice_id TEXT,
        stripe_invoice_id TEXT,
        customer_key TEXT,
        kind TEXT NOT NULL CHECK (kind IN ('missing_in_stripe', 'currency', 'total', 'item_count', 'status', 'orphan', 'carried_balance')),
        local_value TEXT,
        stripe_value TEXT,
        detail TEXT NOT NULL
    );
    CREATE INDEX reconciliation_differences_run ON reconciliation_differences (reconciliation_id);
    CREATE TABLE service_tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL DEFAULT '',
        scope TEXT NOT NULL CHECK (scope IN ('ingest', 'check', 'admin')),
        digest TEXT NOT NULL UNIQUE,
        last4 TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT
    );
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        customer_key TEXT NOT NULL REFERENCES customers (key),
        digest TEXT NOT NULL UNIQUE,
        last4 TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT
    );
    CREATE INDEX api_keys_customer ON api_keys (customer_key);
    CREATE TABLE usage_link_keys (
        id BIGINT PRIMARY KEY CHECK (id = 1),
        key BYTEA NOT NULL CHECK (octet_length(key) = 32),
        created_at BIGINT NOT NULL
    );
    CREATE TABLE stripe_events (
        id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        account TEXT,
        object_id TEXT,
        created BIGINT NOT NULL,
        livemode BIGINT NOT NULL CHECK (livemode IN (0, 1)),
        payload TEXT NOT NULL,
        received_at BIGINT NOT NULL,
        attempts BIGINT NOT NULL DEFAULT 0,
        applied_at BIGINT,
        outcome TEXT
    );
    CREATE INDEX stripe_events_waiting ON stripe_events (received_at) WHERE applied_at IS NULL;
    CREATE TABLE subscription_requests (
        id TEXT PRIMARY KEY,
        customer_key TEXT NOT NULL REFERENCES customers (key),
        plan_key TEXT NOT NULL,
        plan_version BIGINT NOT NULL,
        anchor BIGINT,
        status TEXT NOT NULL CHECK (status IN ('pending_payment', 'started', 'expired', 'cancelled', 'failed')),
        checkout_session_id TEXT UNIQUE,
        checkout_url TEXT,
        checkout_expires_at BIGINT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        api_key_id TEXT,
        api_key_secret TEXT,
        failure TEXT,
        FOREIGN KEY (plan_key, plan_version) REFERENCES plans (key, version)
    );
    CREATE INDEX subscription_requests_customer ON subscription_requests (customer_key, status);

    CREATE TABLE change_counters (
        name TEXT PRIMARY KEY,
        value BIGINT NOT NULL DEFAULT 0
    );
    INSERT INTO change_counters (name, value) VALUES ('attribution', 0), ('credentials', 0), ('payments', 0), ('closes', 0);
    CREATE FUNCTION tollbooth_bump_counter() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE change_counters SET value = value + 1 WHERE name = TG_ARGV[0];
        RETURN NULL;
    END
    $$;
    -- Counters move by the rows a statement changed, as SQLite's row triggers move them, in one
    -- UPDATE per statement: a bill run's thousands of closes would otherwise each write a new
    -- version of the counter's row inside one transaction.
    CREATE FUNCTION tollbooth_count_changes() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE change_counters SET value = value + (SELECT count(*) FROM changed_rows) WHERE name = TG_ARGV[0];
        RETURN NULL;
    END
    $$;
    \([("meters", "attribution"), ("subscriptions", "attribution"), ("customer_subjects", "attribution"),
       ("service_tokens", "credentials"), ("api_keys", "credentials")].flatMap { table, counter in
        [("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")].map { event, rows in
            """
            CREATE TRIGGER \(table)_\(event.lowercased())_\(counter) AFTER \(event) ON \(table) REFERENCING \(rows) TABLE AS changed_rows
                FOR EACH STATEMENT EXECUTE FUNCTION tollbooth_count_changes('\(counter)');
            """
        }
    }.joined(separator: "\n"))
    CREATE TRIGGER period_closes_insert_closes AFTER INSERT ON period_closes REFERENCING NEW TABLE AS changed_rows
        FOR EACH STATEMENT EXECUTE FUNCTION tollbooth_count_changes('closes');
    CREATE TRIGGER invoices_insert_payments AFTER INSERT ON invoices
        FOR EACH ROW EXECUTE FUNCTION tollbooth_bump_counter('payments');
    CREATE TRIGGER invoices_status_payments AFTER UPDATE OF status, payment_failed_at ON invoices
        FOR EACH ROW EXECUTE FUNCTION tollbooth_bump_counter('payments');
    """

    /// SQLite's version 10: the `payments` counter moves only for what payment access reads.
    /// Row triggers with a condition, so a bill run's workers moving their invoices through the
    /// other statuses never queue on the counter's row.
    static let version10 = """
    DROP TRIGGER invoices_insert_payments ON invoices;
    DROP TRIGGER invoices_status_payments ON invoices;
    CREATE TRIGGER invoices_insert_payments AFTER INSERT ON invoices FOR EACH ROW
        WHEN (NEW.status IN ('payment_failed', 'uncollectible'))
        EXECUTE FUNCTION tollbooth_bump_counter('payments');
    CREATE TRIGGER invoices_status_payments AFTER UPDATE OF status, payment_failed_at ON invoices FOR EACH ROW
        WHEN (OLD.status IN ('payment_failed', 'uncollectible') OR NEW.status IN ('payment_failed', 'uncollectible')
              OR OLD.payment_failed_at IS DISTINCT FROM NEW.payment_failed_at)
        EXECUTE FUNCTION tollbooth_bump_counter('payments');
    """

    /// The usage counters of servers that share the database (`SharedUsageCounters`): one row per
    /// subscription, COUNT or SUM meter and usage period that a consuming check asked about.
    static let version11 = """
    CREATE TABLE usage_counters (
        subscription_id TEXT COLLATE "C" NOT NULL REFERENCES subscriptions (id),
        meter_slug TEXT COLLATE "C" NOT NULL,
        period_start BIGINT NOT NULL,
        period_end BIGINT NOT NULL CHECK (period_end > period_start),
        aggregation TEXT COLLATE "C" NOT NULL CHECK (aggregation IN ('COUNT', 'SUM')),
        used NUMERIC NOT NULL,
        PRIMARY KEY (subscription_id, meter_slug, period_start, period_end)
    );
    """

    /// SQLite's version 12: bill-run workers' work and leases, one invoice per customer and bill date.
    static let version12 = """
    CREATE TABLE run_work (
        stage TEXT COLLATE "C" NOT NULL CHECK (stage IN (\(stages))),
        customer_key TEXT COLLATE "C" NOT NULL,
        owner TEXT COLLATE "C",
        lease_until BIGINT,
        PRIMARY KEY (stage, customer_key)
    );
    CREATE INDEX run_work_owner ON run_work (owner);
    CREATE TABLE run_leases (
        owner TEXT COLLATE "C" PRIMARY KEY,
        lease_until BIGINT NOT NULL
    );
    CREATE UNIQUE INDEX invoices_one_per_bill_date ON invoices (customer_key, bill_date);
    """

    /// A bill-run worker's run names its worker (as in SQLite's version 13), and a change
    /// counter moves once per transaction that changes what it counts, not once per
    /// statement: every update of one row inside one transaction leaves a new version of it that
    /// the next update walks past, so a transaction of 100,000 statements (a `customers import`)
    /// took time quadratic in its size. A flag local to the transaction says the counter moved;
    /// it is undone with the transaction or its savepoint, as the counter's update is. Readers
    /// only ask whether a counter moved.
    static let version13 = """
    ALTER TABLE job_runs ADD COLUMN worker TEXT COLLATE "C";
    CREATE FUNCTION tollbooth_move_counter(counter TEXT) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        IF coalesce(current_setting('tollbooth.moved_' || counter, true), '') = '' THEN
            UPDATE change_counters SET value = value + 1 WHERE name = counter;
            PERFORM set_config('tollbooth.moved_' || counter, 'yes', true);
        END IF;
    END
    $$;
    CREATE OR REPLACE FUNCTION tollbooth_bump_counter() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM tollbooth_move_counter(TG_ARGV[0]);
        RETURN NULL;
    END
    $$;
    CREATE OR REPLACE FUNCTION tollbooth_count_changes() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM changed_rows) THEN
            PERFORM tollbooth_move_counter(TG_ARGV[0]);
        END IF;
        RETURN NULL;
    END
    $$;
    """
}
