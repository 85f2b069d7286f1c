import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import TestSupport
import Testing

/// `tollbooth run --worker`: several workers share a bill run by customer, and a worker killed
/// with -9 loses its customers to the others once its lease runs out. Every customer is billed
/// once, locally and in Stripe, with the totals a single run on SQLite bills.
@Suite(.serialized) struct BillRunWorkerTests {
    static let subjects = 300
    static let events = 6_000

    /// A generated month of usage (`bench prepare`: a customer with a subscription per
    /// subject, from Jan 1), ingested; the as-of that bills it.
    func prepare(_ cli: CLI) throws -> String {
        var arguments = ["bench", "prepare", "--folder", cli.folder.appendingPathComponent("data").path,
                         "--subjects", String(BillRunWorkerTests.subjects), "--events", String(BillRunWorkerTests.events), "--days", "30"]
        if cli.backend == .postgres { arguments += ["--postgres", cli.database] }
        let prepared = try cli.run(arguments)
        #expect(prepared.status == 0, "\(prepared)")
        let times = prepared.stdout.split(separator: "\n").map(String.init)
        try #require(times.count == 2, "\(prepared)")
        if cli.backend == .sqlite {
            try FileManager.default.moveItem(atPath: cli.folder.appendingPathComponent("data/bench.db").path, toPath: cli.database)
        }
        let ingest = try cli.run("meter", "ingest", cli.folder.appendingPathComponent("data/events.ndjson").path, "--at", times[0])
        #expect(ingest.status == 0, "\(ingest)")
        return times[1]
    }

    /// A worker started in the background, its output in files of the test's folder.
    func startWorker(_ cli: CLI, _ name: String, asOf: String) throws -> Process {
        let process = Process()
        process.executableURL = try #require(CLI.binary)
        process.arguments = ["run", "--worker", "--as-of", asOf, "--at", asOf]
        process.currentDirectoryURL = cli.folder
        var environment = ProcessInfo.processInfo.environment
        environment["TOLLBOOTH_DB"] = cli.database
        environment["TOLLBOOTH_SECRETS"] = cli.folder.appendingPathComponent("secrets.json").path
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: cli.folder.appendingPathComponent("\(name).out").creatingFile())
        process.standardError = try FileHandle(forWritingTo: cli.folder.appendingPathComponent("\(name).err").creatingFile())
        try process.spawn()
        return process
    }

    /// Local invoices by id: (status, total, Stripe invoice id).
    func invoices(_ cli: CLI) throws -> [String: (status: String, total: String, stripe: String?)] {
        let list = try cli.run("invoices", "list", "--format", "json")
        #expect(list.status == 0, "\(list)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        var result: [String: (status: String, total: String, stripe: String?)] = [:]
        for row in rows {
            result[row["id"] as? String ?? ""] = (row["status"] as? String ?? "", row["total"] as? String ?? "", row["stripeInvoiceId"] as? String)
        }
        return result
    }

    @Test func threeWorkersTwoKilledBillEveryCustomerOnce() throws {
        let cli = try CLI(.postgres)
        let asOf = try prepare(cli)
        let simulator = try Simulator(arguments: ["--limits", "none"])
        // A short lease, so the killed workers' customers are taken over within seconds.
        try cli.write("tollbooth.json", """
            {"leaseSeconds": 3, "stripe": {"apiBase": "\(simulator.baseURL)", "requestsPerSecond": 2000, "endpointRequestsPerSecond": 2000}}
            """)
        let connected = try cli.run(["stripe", "connect"], environment: ["TOLLBOOTH_STRIPE_KEY": "sk_test_workers000000000001"])
        #expect(connected.status == 0, "\(connected)")

        var generator = SystemRandomNumberGenerator()
        let workers = try (1...3).map { try startWorker(cli, "worker\($0)", asOf: asOf) }
        // Two workers killed at random moments of the run (close, rate, tax or issue).
        let kills = [Double.random(in: 0.5...4, using: &generator), Double.random(in: 2...10, using: &generator)]
        for (index, delay) in kills.enumerated() {
            Thread.sleep(forTimeInterval: index == 0 ? delay : max(0, delay - kills[0]))
            kill(workers[index + 1].processIdentifier, SIGKILL)
            workers[index + 1].waitUntilExit()
            // Killed while it worked, not after it had finished.
            #expect(workers[index + 1].terminationReason == .uncaughtSignal, "worker \(index + 2) had finished before \(delay) s")
        }
        workers[0].waitUntilExit()
        let survivor = try String(contentsOf: cli.folder.appendingPathComponent("worker1.out"), encoding: .utf8)
        let log = try String(contentsOf: cli.folder.appendingPathComponent("worker1.err"), encoding: .utf8)
        #expect(workers[0].terminationStatus == 0, "killed after \(kills) s\n\(survivor)\n\(log)")
        // A worker started afterwards finds nothing left to do.
        let again = try cli.run("run", "--worker", "--as-of", asOf, "--at", asOf)
        #expect(again.status == 0, "\(again)")
        #expect(again.stdout.contains("rate: rated 0 invoices") && again.stdout.contains("issue: issued 0,"), "\(again)")

        // Every customer billed once locally: two invoices each (Jan 1 and Feb 1), all issued.
        let billed = try invoices(cli)
        #expect(billed.count == 2 * BillRunWorkerTests.subjects, "killed after \(kills) s")
        #expect(billed.values.filter { $0.status == "issued" || $0.status == "payment_failed" || $0.status == "paid" }.count == billed.count,
                "\(Dictionary(grouping: billed.values, by: \.status).mapValues(\.count))")
        let stripeIds = billed.values.compactMap(\.stripe)
        #expect(stripeIds.count == billed.count && Set(stripeIds).count == billed.count, "each local invoice has a Stripe invoice of its own")
        // And once in Stripe: one invoice made per local invoice, whatever was retried.
        let requests = try simulator.control("GET", "requests?method=POST&path=/v1/invoices")
        let creates = ((requests["data"] as? [[String: Any]]) ?? []).filter { $0["path"] as? String == "/v1/invoices" && $0["status"] as? Int == 200 }
        let made = creates.filter { $0["replayed"] as? Bool != true }
        #expect(made.count == billed.count, "\(made.count) Stripe invoices made for \(billed.count) local ones (killed after \(kills) s)")
        #expect(Set(made.compactMap { $0["idempotency_key"] as? String }).count == made.count)

        // The totals a single run on SQLite bills, invoice by invoice.
        let single = try CLI(.sqlite)
        let singleAsOf = try prepare(single)
        #expect(singleAsOf == asOf)
        let run = try single.run("run", "--as-of", asOf, "--at", asOf)
        #expect(run.status == 0, "\(run)")
        let expected = try invoices(single)
        #expect(expected.count == billed.count)
        #expect(expected.mapValues(\.total) == billed.mapValues(\.total))
    }
}
