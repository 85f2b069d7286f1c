import Foundation
import Testing
import TestSupport

/// Commands that overlap on one database, through the binary: an ingest racing a bill run, the
/// run lock, and the guards that keep a person's slip from costing data. Each runs on SQLite
/// (file locks) and on PostgreSQL (the run lock a session advisory lock, write transactions
/// taking turns under an advisory transaction lock).
///
/// The sample catalog: Starter 29.00 a month in advance, requests at 0.002; Pro 99.00 a month,
/// requests graduated (first 1,000 free, then up to 10,000 at 0.001, then 0.0008 plus a 5.00
/// flat tier price), tokens 2.00 per million.
@Suite struct OverlapTests {
    func event(_ id: String, subject: String, time: String) -> String {
        #"{"specversion":"1.0","id":"\#(id)","source":"gateway","type":"api.request","subject":"\#(subject)","time":"\#(time)","data":{}}"#
    }

    /// Acme on Starter and Initech on Pro from Nov 1, and November's events: Acme 3,000
    /// requests, Initech 12,000.
    func november(_ cli: CLI) throws -> String {
        try cli.importFixtures()
        for (customer, plan) in [("acme", "starter"), ("initech", "pro")] {
            let created = try cli.run("subscriptions", "create", "--customer", customer, "--plan", plan, "--at", "2026-11-01T00:00:00Z")
            #expect(created.status == 0, "\(created)")
        }
        let events = (0..<3_000).map { event("a\($0)", subject: "acme_prod", time: "2026-11-10T09:00:00Z") }
            + (0..<12_000).map { event("i\($0)", subject: "initech", time: "2026-11-12T10:00:00Z") }
        return try cli.write("november.ndjson", events.joined(separator: "\n") + "\n")
    }

    /// The bill runs of Dec 1 and Jan 1, each as of an hour after the boundary.
    func runDecemberAndJanuary(_ cli: CLI) throws {
        for at in ["2026-12-01T02:00:00Z", "2027-01-01T02:00:00Z"] {
            let run = try cli.run("run", "--at", at)
            #expect(run.status == 0, "\(run)")
        }
    }

    /// Every invoice's total, added up (all in USD here).
    func grandTotal(_ cli: CLI) throws -> Decimal {
        let list = try cli.run("invoices", "list", "--format", "json")
        let invoices = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        return invoices.reduce(Decimal(0)) { $0 + (Decimal(string: $1["total"] as? String ?? "") ?? 0) }
    }

    func lines(_ cli: CLI, _ id: String) throws -> [String] {
        let show = try cli.run("invoices", "show", id, "--format", "json")
        #expect(show.status == 0, "\(show)")
        let invoice = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])
        return try #require(invoice["lines"] as? [[String: Any]]).map {
            "\($0["kind"] as? String ?? "") \($0["rateCardKey"] as? String ?? "-") \($0["amount"] as? String ?? "")"
        }
    }

    /// What the two runs bill when the ingest finishes before them: the reference.
    func referenceTotal(_ backend: Backend) throws -> Decimal {
        let cli = try CLI(backend)
        let file = try november(cli)
        let ingest = try cli.run("meter", "ingest", file, "--at", "2026-12-01T00:30:00Z")
        #expect(ingest.stdout == "accepted 15000, duplicate 0, rejected 0\n", "\(ingest)")
        try runDecemberAndJanuary(cli)
        // Acme Dec 1: Dec fee 29.00 + 3,000 x 0.002 = 6.00; Initech: 99.00 + 11,000 paid requests
        // (10,000 x 0.001 = 10.00, 1,000 x 0.0008 = 0.80, flat 5.00) = 15.80; Nov 1: 29.00 + 99.00;
        // Jan 1: 29.00 + 99.00, no usage. 35.00 + 114.80 + 128.00 + 128.00 = 405.80.
        #expect(try lines(cli, "inv_acme_20261201") == ["fee base_fee 29.00", "usage api_requests 6.00"])
        return try grandTotal(cli)
    }

    @Test(arguments: Backend.allCases)
    func anIngestHeldBeforeItsTransactionWhileARunClosesBillsItsEventsAsLateUsage(_ backend: Backend) throws {
        let reference = try referenceTotal(backend)
        #expect(reference == Decimal(string: "405.80"))

        let cli = try CLI(backend)
        let file = try november(cli)
        // The ingest has read its input and stops just before its write transaction.
        let ingest = try Background(cli, ["meter", "ingest", file, "--at", "2026-12-01T00:30:00Z"],
                                    environment: ["TOLLBOOTH_FAILPOINT": "ingest.transaction:stop"])
        try ingest.waitUntilStopped()
        // Meanwhile the bill run closes and rates November, with no usage yet.
        let december = try cli.run("run", "--at", "2026-12-01T02:00:00Z")
        #expect(december.status == 0, "\(december)")
        #expect(try lines(cli, "inv_acme_20261201") == ["fee base_fee 29.00", "usage api_requests 0.00"])
        ingest.resume()
        let ingested = try ingest.wait()
        #expect(ingested.status == 0, "\(ingested)")
        #expect(ingested.stdout == "accepted 15000, duplicate 0, rejected 0 (15000 late, billed on the next invoice)\n")
        let january = try cli.run("run", "--at", "2027-01-01T02:00:00Z")
        #expect(january.status == 0, "\(january)")
        // November recomputed with its events: 6.00 and 15.80, billed 0.00 each.
        #expect(try lines(cli, "inv_acme_20270101") == ["fee base_fee 29.00", "usage api_requests 0.00", "late_usage api_requests 6.00"])
        #expect(try lines(cli, "inv_initech_20270101").contains("late_usage api_requests 15.80"))
        #expect(try grandTotal(cli) == reference)
    }

    @Test(arguments: Backend.allCases)
    func aSlowProducerPipedIntoIngestWhileARunClosesLosesNothing(_ backend: Backend) throws {
        let reference = try referenceTotal(backend)
        let cli = try CLI(backend)
        let file = try november(cli)
        let binary = try #require(CLI.binary).path
        // The events arrive two seconds after the ingest starts; the run starts meanwhile.
        let ingest = try Background(cli, ["/bin/sh", "-c", "(sleep 2; cat '\(file)') | '\(binary)' --at 2026-12-01T00:30:00Z meter ingest -"],
                                    shell: true)
        Thread.sleep(forTimeInterval: 0.3)
        let december = try cli.run("run", "--at", "2026-12-01T02:00:00Z")
        #expect(december.status == 0, "\(december)")
        let ingested = try ingest.wait()
        #expect(ingested.status == 0, "\(ingested)")
        #expect(ingested.stdout.hasPrefix("accepted 15000, duplicate 0, rejected 0"), "\(ingested)")
        let january = try cli.run("run", "--at", "2027-01-01T02:00:00Z")
        #expect(january.status == 0, "\(january)")
        #expect(try grandTotal(cli) == reference)
    }

    @Test(arguments: Backend.allCases)
    func twoIngestsOfTheSameEventsAtOnceCountEachEventOnce(_ backend: Backend) throws {
        let cli = try CLI(backend)
        let file = try november(cli)
        // The first holds before its transaction; the second ingests everything; the first then
        // finds every key the second committed.
        let first = try Background(cli, ["meter", "ingest", file, "--at", "2026-12-01T00:30:00Z"],
                                   environment: ["TOLLBOOTH_FAILPOINT": "ingest.transaction:stop"])
        try first.waitUntilStopped()
        let second = try cli.run("meter", "ingest", file, "--at", "2026-12-01T00:30:00Z")
        #expect(second.stdout == "accepted 15000, duplicate 0, rejected 0\n", "\(second)")
        first.resume()
        let held = try first.wait()
        #expect(held.stdout == "accepted 0, duplicate 15000, rejected 0\n", "\(held)")
    }

    @Test(arguments: Backend.allCases)
    func aSubscriptionChangedWhileAnIngestWaitsIsAttributedByTheChange(_ backend: Backend) throws {
        let cli = try CLI(backend)
        try cli.importFixtures()
        let starter = try cli.run("subscriptions", "create", "--customer", "acme", "--plan", "starter", "--at", "2026-11-01T00:00:00Z")
        let events = (0..<100).map { event("a\($0)", subject: "acme_prod", time: "2026-11-20T09:00:00Z") }
        let file = try cli.write("events.ndjson", events.joined(separator: "\n") + "\n")
        let ingest = try Background(cli, ["meter", "ingest", file, "--at", "2026-11-21T00:00:00Z"],
                                    environment: ["TOLLBOOTH_FAILPOINT": "ingest.transaction:stop"])
        try ingest.waitUntilStopped()
        // The upgrade on Nov 15 lands while the ingest waits: the events of Nov 20 are Pro's.
        let pro = try cli.run("subscriptions", "change", starter.output, "--plan", "pro", "--at", "2026-11-16T00:00:00Z")
        #expect(pro.status == 0, "\(pro)")
        ingest.resume()
        #expect(try ingest.wait().status == 0)
        #expect(try cli.run("run", "--at", "2026-12-01T02:00:00Z").status == 0)
        // Starter's usage line is 0.00: its 100 requests would have been 0.20. Pro's 100 are free.
        let december = try lines(cli, "inv_acme_20261201")
        #expect(december.contains("usage api_requests 0.00"), "\(december)")
        #expect(!december.contains("usage api_requests 0.20"), "\(december)")
    }

    @Test(arguments: Backend.allCases)
    func theNightlyJobAndAManualIngestOverlappingBillEverythingOnce(_ backend: Backend) throws {
        let reference = try referenceTotal(backend)
        let cli = try CLI(backend)
        let file = try november(cli)
        let binary = try #require(CLI.binary)
        // The manual ingest is slow to get its input; the nightly job runs meanwhile.
        let ingest = try Background(cli, ["/bin/sh", "-c", "(sleep 2; cat '\(file)') | '\(binary.path)' --at 2026-12-01T00:30:00Z meter ingest -"],
                                    shell: true)
        Thread.sleep(forTimeInterval: 0.3)
        let nightly = Process()
        nightly.executableURL = URL(fileURLWithPath: "/bin/bash")
        nightly.arguments = [JobScriptTests.jobs.appendingPathComponent("nightly.sh").path]
        // On SQLite the job finds the database in TOLLBOOTH_HOME; PostgreSQL's is named to it.
        nightly.environment = ["PATH": "/usr/local/bin:/usr/bin:/bin", "TOLLBOOTH_HOME": cli.folder.path, "TOLLBOOTH_BIN": binary.path,
                               "TOLLBOOTH_AS_OF": "2026-12-01T02:00:00Z"].merging(backend == .sqlite ? [:] : cli.databaseEnvironment) { $1 }
        nightly.standardOutput = FileHandle.nullDevice
        nightly.standardError = FileHandle.nullDevice
        try nightly.spawn()
        nightly.waitUntilExit()
        #expect(nightly.terminationStatus == 0)
        #expect(try ingest.wait().status == 0)
        let january = try cli.run("run", "--at", "2027-01-01T02:00:00Z")
        #expect(january.status == 0, "\(january)")
        #expect(try grandTotal(cli) == reference)
    }

    // MARK: The run lock and guards

    @Test(arguments: Backend.allCases)
    func theRunLockFollowsTheDatabaseNotItsPath(_ backend: Backend) throws {
        let cli = try CLI(backend)
        try cli.importFixtures()
        // Other names for the same database: on SQLite a symlink and relative paths; on
        // PostgreSQL the other scheme and the user and database names percent-encoded.
        let others: [String]
        switch backend {
        case .sqlite:
            let link = cli.folder.appendingPathComponent("link.db").path
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: cli.database)
            others = [link, cli.folder.path + "/./tollbooth.db", "../" + cli.folder.lastPathComponent + "/tollbooth.db"]
        case .postgres:
            others = [cli.database.replacingOccurrences(of: "postgres://", with: "postgresql://"),
                      cli.database.replacingOccurrences(of: "postgres://tollbooth:", with: "postgres://%74ollbooth:"),
                      cli.database.replacingOccurrences(of: "/t_", with: "/%74_")]
            #expect(Set(others).count == 3 && !others.contains(cli.database))
        }
        // A run through the real name stops at its first stage; one through another must wait.
        let holder = try Background(cli, ["run", "--db", cli.database, "--at", "2026-12-01T02:00:00Z"],
                                    environment: ["TOLLBOOTH_FAILPOINT": "run.close:stop"])
        try holder.waitUntilStopped()
        for path in others {
            let second = try cli.run("run", "--db", path, "--at", "2026-12-01T02:00:00Z")
            #expect(second.status == 75, "\(path): \(second)")
            #expect(second.stderr.hasPrefix("error: another bill run holds the lock"), "\(second)")
        }
        holder.resume()
        #expect(try holder.wait().status == 0)
    }

    @Test(arguments: Backend.allCases)
    func anAsOfInTheFutureIsRefused(_ backend: Backend) throws {
        let cli = try CLI(backend)
        try cli.importFixtures()
        #expect(try cli.run("subscriptions", "create", "--customer", "acme", "--plan", "starter", "--at", "2026-11-01T00:00:00Z").status == 0)
        let run = try cli.run("run", "--as-of", "9999-12-31T23:59:59Z")
        #expect(run.status == 2, "\(run)")
        #expect(run.stderr.hasPrefix("error: as-of is in the future (9999-12-31T23:59:59Z, now is "), "\(run)")
        #expect(run.stderr.hasSuffix("pass --at to replay one\n"), "\(run)")
        let replay = try cli.run("run", "--as-of", "2026-12-01T02:00:00Z", "--at", "2026-12-01T01:00:00Z")
        #expect(replay.status == 2, "as-of after --at: \(replay)")
        #expect(try cli.run("invoices", "list", "--format", "csv").stdout.split(separator: "\r\n").count == 1, "nothing billed")
        // Equal to now (the default) is fine.
        #expect(try cli.run("run", "--at", "2026-12-01T02:00:00Z").status == 0)
    }

    @Test(arguments: Backend.allCases)
    func aDatabaseThatDoesNotExistIsRefusedExceptByImports(_ backend: Backend) throws {
        let cli = try CLI(backend)
        if backend == .postgres {
            // A PostgreSQL database is made on the server (createdb), never by Tollbooth: every
            // command is refused, imports too, naming the database without its password.
            let server = try PostgresServer.shared()
            let name = "typo_" + UUID().uuidString.prefix(8).lowercased()
            let missing = server.url(database: name)
            for arguments in [["run"], ["invoices", "list"], ["meter", "ingest", "-"], ["subscriptions", "list"], ["customers", "list"],
                              ["catalog", "import", fixture("catalogs/sample.json")]] {
                let outcome = try cli.run(["--db", missing] + arguments)
                #expect(outcome.status == 2, "\(arguments): \(outcome)")
                #expect(outcome.stderr == "error: no database at postgres://\(PostgresServer.user)@127.0.0.1:\(server.port)/\(name): "
                        + "check --db or $TOLLBOOTH_DB (make it on the server: createdb \(name))\n", "\(arguments): \(outcome)")
            }
            #expect(try server.query("SELECT count(*) FROM pg_database WHERE datname = '\(name)'", url: server.url(database: "postgres")) == "0")
            return
        }
        let missing = cli.folder.appendingPathComponent("typo.db").path
        for arguments in [["run"], ["invoices", "list"], ["meter", "ingest", "-"], ["subscriptions", "list"], ["customers", "list"]] {
            let outcome = try cli.run(["--db", missing] + arguments)
            #expect(outcome.status == 2, "\(arguments): \(outcome)")
            #expect(outcome.stderr == "error: no database at \(missing): check --db or $TOLLBOOTH_DB (`tollbooth catalog import FILE` makes a new one)\n")
        }
        #expect(!FileManager.default.fileExists(atPath: missing))
        let created = try cli.run("--db", missing, "catalog", "import", fixture("catalogs/sample.json"))
        #expect(created.status == 0, "\(created)")
        #expect(FileManager.default.fileExists(atPath: missing))
    }

    @Test(arguments: Backend.allCases)
    func aRunKilledMidwayIsMarkedAbandonedAndItsWorkResumed(_ backend: Backend) throws {
        let cli = try CLI(backend)
        try cli.importFixtures()
        #expect(try cli.run("subscriptions", "create", "--customer", "acme", "--plan", "starter", "--at", "2026-11-01T00:00:00Z").status == 0)
        let killed = try cli.run("run", "--at", "2026-12-01T02:00:00Z", environment: ["TOLLBOOTH_FAILPOINT": "run.rate"])
        #expect(killed.status == 9 || killed.status == 137, "killed by SIGKILL: \(killed)")
        #expect(try cli.query("SELECT status FROM job_runs") == "running")
        let next = try cli.run("run", "--at", "2026-12-01T02:00:00Z")
        #expect(next.status == 0, "\(next)")
        #expect(next.stderr.contains("note: a run left running by a process that died marked abandoned; this run resumed its work"), "\(next)")
        #expect(try cli.query("SELECT status FROM job_runs ORDER BY id").split(separator: "\n") == ["abandoned", "succeeded"])
        #expect(try cli.query("SELECT status FROM job_stages WHERE run_id = 1 AND stage = 'rate'") == "abandoned")
        #expect(try lines(cli, "inv_acme_20261201") == ["fee base_fee 29.00", "usage api_requests 0.00"])
    }

    // MARK: Store defects

    @Test(arguments: Backend.allCases)
    func aDatabaseFromANewerSchemaIsRefusedAndNotWritten(_ backend: Backend) throws {
        let cli = try CLI(backend)
        try cli.importFixtures()
        // SQLite keeps the version in the file's header, PostgreSQL in schema_migrations.
        try cli.query(backend == .sqlite ? "PRAGMA user_version = 99" : "INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)")
        let before = try cli.contents()
        for arguments in [["invoices", "list"], ["run", "--at", "2026-12-01T02:00:00Z"], ["catalog", "import", fixture("catalogs/sample.json")]] {
            let outcome = try cli.run(arguments)
            #expect(outcome.status == 1, "\(outcome)")
            #expect(outcome.stderr.hasPrefix("error: the database \(cli.shownDatabase) is at schema version 99, newer than the "), "\(outcome)")
            #expect(outcome.stderr.hasSuffix(" this tollbooth knows: use the tollbooth that wrote it (nothing was changed)\n"), "\(outcome)")
        }
        #expect(try cli.contents() == before)
    }

    @Test(arguments: Backend.allCases)
    func textIsStoredByteForByteWithItsNULCharacters(_ backend: Backend) throws {
        let cli = try CLI(backend)
        #expect(try cli.run("catalog", "import", fixture("catalogs/sample.json")).status == 0)
        // Two subjects that differ only after a NUL: they were both stored as "a" and collided.
        let customers = #"[{"key": "one", "name": "One", "currency": "USD", "usageAttribution": {"subjectKeys": ["a\u0000b"]}},"#
            + #" {"key": "two", "name": "Two", "currency": "USD", "usageAttribution": {"subjectKeys": ["a\u0000c"]}}]"#
        let imported = try cli.run("customers", "import", try cli.write("customers.json", customers))
        if backend == .postgres {
            // PostgreSQL's text cannot hold NUL: the subjects are refused saying so, and nothing
            // is stored; only the quarantined line below is kept whole (as bytes).
            #expect(imported.status == 1, "\(imported)")
            #expect(imported.stderr.contains("a text holds a NUL character, which PostgreSQL's text cannot store"), "\(imported)")
            #expect(try cli.query("SELECT count(*) FROM customers") == "0")
            #expect(try cli.query("SELECT count(*) FROM customer_subjects") == "0")
        } else {
            #expect(imported.status == 0, "\(imported)")
            #expect(try cli.sqlite("SELECT group_concat(customer_key || ' ' || hex(subject), ', ') FROM (SELECT * FROM customer_subjects ORDER BY customer_key)")
                    == "one 610062, two 610063")
        }
        for customer in ["one", "two"] where backend == .sqlite {
            #expect(try cli.run("subscriptions", "create", "--customer", customer, "--plan", "starter", "--at", "2026-11-01T00:00:00Z").status == 0)
        }
        // One event for each subject, and a line with a raw NUL byte, which is quarantined whole.
        var input = Data((event("e1", subject: #"a\u0000b"#, time: "2026-11-10T00:00:00Z") + "\n"
            + event("e2", subject: #"a\u0000c"#, time: "2026-11-10T00:00:00Z") + "\n"
            + event("e3", subject: #"a\u0000c"#, time: "2026-11-10T00:00:00Z") + "\n").utf8)
        let broken = Data(#"{"id": "x"#.utf8) + Data([0]) + Data(#"y", "broken": true}"#.utf8)
        input += broken + Data("\n".utf8)
        let path = cli.folder.appendingPathComponent("events.ndjson")
        try input.write(to: path)
        let ingest = try cli.run("meter", "ingest", path.path, "--at", "2026-11-11T00:00:00Z")
        #expect(ingest.status == 2, "\(ingest)")
        let hex = broken.map { String(format: "%02X", $0) }.joined()
        switch backend {
        case .sqlite:
            #expect(ingest.stdout == "accepted 3, duplicate 0, rejected 1\n")
            #expect(try cli.sqlite("SELECT hex(CAST(raw AS BLOB)) FROM quarantined_events") == hex)
        case .postgres:
            // No customer has those subjects here: the three events are quarantined too, and the
            // line with the NUL byte is kept whole among them.
            #expect(ingest.stdout == "accepted 0, duplicate 0, rejected 4\n")
            #expect(try cli.query("SELECT count(*) FROM quarantined_events") == "4")
            #expect(try cli.query("SELECT upper(encode(raw, 'hex')) FROM quarantined_events WHERE position('\\x00'::bytea IN raw) > 0") == hex)
        }
        #expect(try cli.run("run", "--at", "2026-12-01T02:00:00Z").status == 0)
        guard backend == .sqlite else { return }
        // One request for One (0.002 rounds to 0.00), two for Two (0.004 -> 0.00): by count instead.
        #expect(try cli.sqlite("SELECT group_concat(s.customer_key || '=' || u.count, ' ') FROM usage_segments u JOIN subscriptions s ON s.id = u.subscription_id")
                .split(separator: " ").sorted() == ["one=1", "two=2"])
    }

    @Test(arguments: Backend.allCases)
    func aUsageReadThatFailsFailsTheRunAndTheNextRunBillsIt(_ backend: Backend) throws {
        let cli = try CLI(backend)
        // Distinct users at 1.00 each: their count is read from usage_unique_values.
        let catalog = """
            {"meters": [{"slug": "users", "name": "Users", "eventType": "login", "aggregation": "UNIQUE_COUNT", "valueProperty": "$.user"}],
             "features": [{"key": "users", "name": "Users", "meterSlug": "users"}],
             "plans": [{"key": "seats", "name": "Seats", "currency": "USD", "billingCadence": "P1M",
                        "phases": [{"key": "main", "name": "Main", "duration": null, "rateCards": [
                            {"type": "usage_based", "key": "users", "name": "Active users", "featureKey": "users", "billingCadence": "P1M",
                             "price": {"type": "unit", "amount": "1.00"}}]}]}]}
            """
        #expect(try cli.run("catalog", "import", try cli.write("catalog.json", catalog)).status == 0)
        #expect(try cli.run("customers", "import", fixture("customers.json")).status == 0)
        #expect(try cli.run("subscriptions", "create", "--customer", "acme", "--plan", "seats", "--at", "2026-11-01T00:00:00Z").status == 0)
        let events = ["ann", "bob", "ann", "cy"].enumerated().map { index, user in
            #"{"specversion":"1.0","id":"l\#(index)","source":"app","type":"login","subject":"acme_prod","time":"2026-11-05T00:00:00Z","data":{"user":"\#(user)"}}"#
        }
        #expect(try cli.run("meter", "ingest", try cli.write("logins.ndjson", events.joined(separator: "\n")), "--at", "2026-11-06T00:00:00Z").status == 0)
        // The usage can't be read: the run fails rather than bill no usage.
        try cli.query("ALTER TABLE usage_unique_values RENAME TO hidden")
        let failed = try cli.run("run", "--at", "2026-12-01T02:00:00Z")
        #expect(failed.status == 1, "\(failed)")
        #expect(failed.stderr.contains(backend == .sqlite ? "no such table: usage_unique_values" : #"relation "usage_unique_values" does not exist"#),
                "\(failed)")
        #expect(try cli.query("SELECT count(*) FROM invoices WHERE bill_date = 1796083200") == "0", "none billed Dec 1 (1796083200)")
        try cli.query("ALTER TABLE hidden RENAME TO usage_unique_values")
        #expect(try cli.run("run", "--at", "2026-12-01T02:00:00Z").status == 0)
        // ann, bob and cy: 3 x 1.00.
        #expect(try lines(cli, "inv_acme_20261201") == ["usage users 3.00"])
    }

    @Test(arguments: Backend.allCases)
    func deDuplicationKeysOlderThanTheRetentionAreDroppedAndTheirSpaceReused(_ backend: Backend) throws {
        let cli = try CLI(backend)
        try cli.importFixtures()
        #expect(try cli.run("subscriptions", "create", "--customer", "initech", "--plan", "pro", "--at", "2026-01-01T00:00:00Z").status == 0)
        // 20,000 keys a day for 10 days of January: 3.2 MB of key blocks.
        for day in 1...10 {
            let time = String(format: "2026-01-%02dT10:00:00Z", day)
            let events = (0..<20_000).map { event("d\(day)-\($0)", subject: "initech", time: time) }
            let ingest = try cli.run("meter", "ingest", try cli.write("day\(day).ndjson", events.joined(separator: "\n")), "--at", "2026-01-11T00:00:00Z")
            #expect(ingest.status == 0, "\(ingest)")
        }
        #expect(try cli.query("SELECT count(*) FROM event_key_blocks") == "10")
        // What the keys take: SQLite's pages in use (the file's, less its free list); on
        // PostgreSQL the bytes of the blocks still live.
        let used = { (cli: CLI) throws -> Int in
            switch cli.backend {
            case .sqlite:
                return Int(try cli.sqlite("SELECT (SELECT page_count FROM pragma_page_count) - (SELECT freelist_count FROM pragma_freelist_count)")) ?? 0
            case .postgres:
                return ((Int(try cli.query("SELECT coalesce(sum(octet_length(keys)), 0) FROM event_key_blocks")) ?? 0) + 4_095) / 4_096
            }
        }
        // The room the database takes: SQLite's file; PostgreSQL's table with its TOAST, where
        // the blocks live (the room of deleted rows is reused once vacuumed, as autovacuum does).
        let size = { (cli: CLI) throws -> Int in
            switch cli.backend {
            case .sqlite:
                _ = try cli.sqlite("PRAGMA wal_checkpoint(TRUNCATE)")
                return try FileManager.default.attributesOfItem(atPath: cli.database)[.size] as? Int ?? 0
            case .postgres:
                try cli.query("VACUUM event_key_blocks")
                return Int(try cli.query("SELECT pg_total_relation_size('event_key_blocks')")) ?? 0
            }
        }
        let fileBefore = try size(cli)
        let before = try used(cli)
        // April 30: January 1-10 is more than 90 days back; one event that day prunes them.
        let ingest = try cli.run("meter", "ingest", try cli.write("april.ndjson", event("late-april", subject: "initech", time: "2026-04-30T10:00:00Z")),
                                 "--at", "2026-04-30T12:00:00Z")
        #expect(ingest.status == 0, "\(ingest)")
        #expect(try cli.query("SELECT day FROM event_key_blocks") == "20573", "only April 30's block is left")
        let after = try used(cli)
        #expect(after < before - 700, "about 780 pages of 4 KiB held the keys: \(after) of \(before)")
        // The freed room takes the next keys: the database does not grow for another 20,000.
        if backend == .postgres { try cli.query("VACUUM event_key_blocks") }
        let events = (0..<20_000).map { event("may-\($0)", subject: "initech", time: "2026-05-01T10:00:00Z") }
        #expect(try cli.run("meter", "ingest", try cli.write("may.ndjson", events.joined(separator: "\n")), "--at", "2026-05-01T12:00:00Z").status == 0)
        #expect(try size(cli) <= fileBefore)
    }
}

/// A `tollbooth` (or shell) process left running while the test does other things; output to
/// files, read when it has exited.
final class Background {
    let process = Process()
    let out: URL
    let err: URL

    init(_ cli: CLI, _ arguments: [String], environment: [String: String] = [:], shell: Bool = false) throws {
        out = cli.folder.appendingPathComponent("bg-out-\(UUID().uuidString)")
        err = cli.folder.appendingPathComponent("bg-err-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        if shell {
            process.executableURL = URL(fileURLWithPath: arguments[0])
            process.arguments = Array(arguments.dropFirst())
        } else {
            process.executableURL = try #require(CLI.binary)
            process.arguments = arguments
        }
        process.currentDirectoryURL = cli.folder
        var env = ProcessInfo.processInfo.environment
        env.merge(cli.databaseEnvironment) { $1 }
        env.merge(environment) { $1 }
        process.environment = env
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardInput = FileHandle.nullDevice
        try process.spawn()
    }

    /// Waits until the process has stopped itself at a `:stop` failpoint (state T).
    func waitUntilStopped(timeout: TimeInterval = 60) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let stat = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8)) ?? ""
            // The state follows the command name in parentheses.
            if let close = stat.lastIndex(of: ")"), stat[stat.index(close, offsetBy: 2)] == "T" { return }
            if !process.isRunning { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        Issue.record("process \(process.processIdentifier) did not stop at its failpoint: \(try wait())")
        throw CancellationError()
    }

    func resume() { kill(process.processIdentifier, SIGCONT) }

    func wait() throws -> Outcome {
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, stdout: String(decoding: try Data(contentsOf: out), as: UTF8.self),
                       stderr: String(decoding: try Data(contentsOf: err), as: UTF8.self))
    }
}
