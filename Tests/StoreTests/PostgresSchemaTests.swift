import Foundation
import Testing
import TestSupport
@testable import Store

/// PostgreSQL's connection and schema against a real server (Debian's PostgreSQL, started by the
/// test set-up in a temporary folder on a free loopback port).
@Suite struct PostgresSchemaTests {
    func session() throws -> PostgresSession {
        try PostgresSession(PostgresLocation(url: try PostgresServer.shared().makeDatabase()))
    }

    @Test func locationsParseAndNeverShowThePassword() throws {
        let location = try PostgresLocation(url: "postgres://billing:s%40cret@db.internal:6432/tollbooth")
        #expect(location.host == "db.internal")
        #expect(location.port == 6432)
        #expect(location.user == "billing")
        #expect(location.password == "s@cret")
        #expect(location.database == "tollbooth")
        #expect(location.description == "postgres://billing@db.internal:6432/tollbooth")
        #expect(try PostgresLocation(url: "postgresql://u@h/d").port == 5432)
        #expect(throws: StoreInputError.self) { try PostgresLocation(url: "postgres://h:5432/d") }
        #expect(throws: StoreInputError.self) { try PostgresLocation(url: "postgres://u:p@h:5432/") }
        #expect(PostgresLocation.isURL("tollbooth.db") == false)
    }

    @Test func placeholdersAreNumberedOutsideQuotes() {
        #expect(PostgresSession.numberPlaceholders("SELECT ? WHERE a = ? AND b = '?' AND \"c?\" = ?")
                == "SELECT $1 WHERE a = $2 AND b = '?' AND \"c?\" = $3")
        // Numbered as SQLite numbers them: `?N` is the Nth value, a bare `?` the next after the highest.
        #expect(PostgresSession.numberPlaceholders("UPDATE t SET a = ?1, b = ?2 FROM (VALUES (?, ?), (?, ?)) WHERE c = ?1")
                == "UPDATE t SET a = $1, b = $2 FROM (VALUES ($3, $4), ($5, $6)) WHERE c = $1")
    }

    @Test func scriptsSplitIntoStatementsKeepingFunctionBodiesWhole() {
        let script = """
            CREATE TABLE a (x BIGINT);
            CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE a SET x = x + 1;
                RETURN NULL;
            END
            $$;
            INSERT INTO a VALUES (1);
            """
        #expect(PostgresSession.statements(script).count == 3)
        #expect(PostgresSession.statements(script)[1].hasSuffix("END\n$$;"))
    }

    @Test func aNewDatabaseIsMigratedOnceAndValuesRoundTrip() throws {
        let session = try session()
        try PostgresSchema.migrate(session)
        try PostgresSchema.migrate(session)
        let versions = try session.query("SELECT version FROM schema_migrations").compactMap { $0.int(0) }
        #expect(versions.sorted() == PostgresSchema.migrations.map { Int64($0.version) })
        #expect(PostgresSchema.latestVersion == Schema.latestVersion, "both dialects stand at the same version")
        // Every table and view of SQLite's schema exists in PostgreSQL's, and no other but the
        // usage counters of servers sharing the database (version 11).
        let tables = Set(try session.query("""
            SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'
            """).compactMap { $0.string(0) })
        let sqlite = try temporaryStore()
        let sqliteTables = Set(try sqlite.database.query("""
            SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'
            """).compactMap { $0.string(0) })
        #expect(tables == sqliteTables.union(["usage_counters"]))
        #expect(tables.contains("usage_rows"))
        // And every column, with the same name.
        for table in sqliteTables.sorted() {
            let columns = try session.query("SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY column_name",
                                            [.text(table)]).compactMap { $0.string(0) }
            let sqliteColumns = try sqlite.database.query("SELECT name FROM pragma_table_info(?) ORDER BY name", [.text(table)]).compactMap { $0.string(0) }
            #expect(columns == sqliteColumns, "\(table)")
        }

        // Integers, non-ASCII text, bytes and NULL come back as they went in. (PostgreSQL's TEXT
        // holds no NUL, which SQLite's does.)
        try session.run("INSERT INTO ingest_batches (input, started_at) VALUES (?, ?)", [.text("a b é ✓"), .integer(-5)])
        let row = try #require(try session.first("SELECT id, input, started_at, finished_at FROM ingest_batches"))
        #expect(row.int(0) == 1)
        #expect(row.string(1) == "a b é ✓")
        #expect(row.int(2) == -5)
        #expect(row[3] == .null)
        let key = (0..<32).map { UInt8($0) }
        try session.run("INSERT INTO usage_link_keys (id, key, created_at) VALUES (1, ?, 0)", [.blob(key)])
        #expect(try session.first("SELECT key FROM usage_link_keys")?[0] == .blob(key))
    }

    @Test func aWholeNumericIsReadAsAnInteger() throws {
        let session = try session()
        #expect(try session.first("SELECT sum(x) FROM (VALUES (2::bigint), (40::bigint)) AS v(x)")?[0] == .integer(42))
        #expect(try session.first("SELECT 2.5::numeric")?[0] == .text("2.5"))
    }

    @Test func theDataVersionMovesWithAnotherConnectionsCommit() throws {
        let url = try PostgresServer.shared().makeDatabase()
        let store = try PostgresStore(url: url), other = try PostgresStore(url: url)
        let before = try store.dataVersion()
        try other.insertToken(id: "tok_1", name: "gateway", scope: .check, digest: "d", last4: "1234", at: t("2026-04-01T00:00:00Z"))
        #expect(try store.dataVersion() != before)
    }

    @Test func triggersMoveTheChangeCounters() throws {
        let session = try session()
        try PostgresSchema.migrate(session)
        func counter(_ name: String) throws -> Int64? { try session.first("SELECT value FROM change_counters WHERE name = ?", [.text(name)])?.int(0) }
        #expect(try counter("credentials") == 0)
        try session.run("INSERT INTO service_tokens (id, scope, digest, last4, created_at) VALUES ('tok_1', 'check', 'd', '1234', 0)")
        #expect(try counter("credentials") == 1)
        #expect(try counter("attribution") == 0)
        // `payments` moves only for what payment access reads, as in SQLite (version 10).
        try session.run("INSERT INTO customers (key, name, json, created_at, updated_at) VALUES ('acme', 'Acme', '{}', 0, 0)")
        try session.run("""
            INSERT INTO invoices (id, customer_key, bill_date, currency, status, subtotal, tax, total, created_at, updated_at)
            VALUES ('inv_1', 'acme', 0, 'USD', 'rated', '0', '0', '0', 0, 0), ('inv_2', 'acme', 1, 'USD', 'rated', '0', '0', '0', 0, 0)
            """)
        try session.run("UPDATE invoices SET status = 'taxed'")
        try session.run("UPDATE invoices SET status = 'issued'")
        #expect(try counter("payments") == 0)
        try session.run("UPDATE invoices SET status = 'payment_failed', payment_failed_at = 5 WHERE id = 'inv_1'")
        #expect(try counter("payments") == 1)
        try session.run("UPDATE invoices SET status = 'paid'")
        #expect(try counter("payments") == 2, "only inv_1 left a status payment access reads")
    }

    @Test func aCounterMovesOncePerTransactionAndASavepointUndoesItsMove() throws {
        let session = try session()
        try PostgresSchema.migrate(session)
        func credentials() throws -> Int64? { try session.first("SELECT value FROM change_counters WHERE name = 'credentials'")?.int(0) }
        func insert(_ id: String) throws {
            try session.run("INSERT INTO service_tokens (id, scope, digest, last4, created_at) VALUES (?, 'check', ?, '1234', 0)", [.text(id), .text(id)])
        }
        // Three statements, one transaction: one move (one new version of the counter's row).
        try session.transaction {
            for id in ["tok_1", "tok_2", "tok_3"] { try insert(id) }
        }
        #expect(try credentials() == 1)
        // A statement that changes no row moves nothing.
        try session.run("DELETE FROM service_tokens WHERE id = 'none'")
        #expect(try credentials() == 1)
        // The next transaction moves it again.
        try insert("tok_4")
        #expect(try credentials() == 2)
        // A savepoint rolled back takes its move with it; the transaction's next change moves it.
        struct Stop: Error {}
        try session.transaction {
            _ = try? session.transaction {
                try insert("tok_5")
                throw Stop()
            }
            #expect(try credentials() == 2)
            try insert("tok_6")
            #expect(try credentials() == 3)
        }
        #expect(try credentials() == 3)
    }

    @Test func refreshingStatisticsAnalyzesATableGrownFromEmpty() throws {
        let url = try PostgresServer.shared().makeDatabase()
        let store = try PostgresStore(url: url)
        let session = try PostgresSession(PostgresLocation(url: url))
        func planned() throws -> Int64 {
            try session.first("SELECT reltuples::bigint FROM pg_class WHERE relname = 'run_work'")?.int(0) ?? -2
        }
        #expect(try planned() == -1, "never analyzed")
        try store.offerWork(.rate, customerKeys: (1...5_000).map { "c\($0)" })
        try store.refreshStatistics()
        #expect(try planned() == 5_000)
    }

    @Test func aTransactionRollsBackWhatItWroteAndSavepointsNest() throws {
        let session = try session()
        try PostgresSchema.migrate(session)
        struct Stop: Error {}
        try session.transaction {
            try session.run("INSERT INTO ingest_batches (input, started_at) VALUES ('kept', 0)")
            _ = try? session.transaction {
                try session.run("INSERT INTO ingest_batches (input, started_at) VALUES ('undone', 0)")
                throw Stop()
            }
        }
        #expect(throws: Stop.self) {
            try session.transaction {
                try session.run("INSERT INTO ingest_batches (input, started_at) VALUES ('undone too', 0)")
                throw Stop()
            }
        }
        #expect(try session.query("SELECT input FROM ingest_batches").compactMap { $0.string(0) } == ["kept"])
    }

    @Test func aDatabaseFromANewerTollboothIsRefusedUntouched() throws {
        let session = try session()
        try PostgresSchema.migrate(session)
        try session.run("INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)", [.integer(Int64(PostgresSchema.latestVersion + 1))])
        #expect(throws: SchemaVersionError.self) { try PostgresSchema.migrate(session) }
    }

    @Test func aBrokenRuleIsAConstraintErrorNamingTheServer() throws {
        let session = try session()
        try PostgresSchema.migrate(session)
        do {
            try session.run("INSERT INTO job_runs (as_of, started_at, status) VALUES (0, 0, 'sleeping')")
            Issue.record("a status outside the CHECK was stored")
        } catch let error as DatabaseError {
            #expect(error.isConstraintViolation)
            #expect(error.message.contains("job_runs_status_check"))
            #expect(error.message.contains("SQLSTATE 23514"))
            #expect(!error.message.contains(PostgresServer.password))
        }
    }
}
