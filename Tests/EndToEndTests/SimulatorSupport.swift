import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// A `stripe-sim` process on a free loopback port for one test, stopped when the test is done.
final class Simulator {
    let process = Process()
    let baseURL: String

    init(arguments: [String] = []) throws {
        let binary = try #require(CLI.binary?.deletingLastPathComponent().appendingPathComponent("stripe-sim"),
                                  "no built stripe-sim executable: run `swift build --build-tests` first")
        let output = Pipe()
        process.executableURL = binary
        process.arguments = ["--port", "0"] + arguments
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The first line is "listening on 127.0.0.1:PORT".
        var line = Data()
        while let byte = try output.fileHandleForReading.read(upToCount: 1), let first = byte.first, first != 0x0A {
            line.append(first)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard text.hasPrefix("listening on ") else {
            process.terminate()
            throw SimulatorError(message: "stripe-sim did not start: \(text)")
        }
        baseURL = "http://" + text.dropFirst("listening on ".count)
    }

    deinit {
        process.terminate()
        process.waitUntilExit()
    }

    struct SimulatorError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// Calls a control route (`/_sim/...`) with a JSON body; returns the decoded answer.
    @discardableResult
    func control(_ method: String, _ path: String, _ body: [String: Any] = [:]) throws -> [String: Any] {
        var components = URLComponents(string: baseURL + "/_sim/" + path)!
        if method == "GET", !body.isEmpty {
            components.queryItems = body.keys.sorted().map { URLQueryItem(name: $0, value: "\(body[$0]!)") }
        }
        var request = URLRequest(url: components.url!)
        request.httpMethod = method
        if method != "GET" {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = try JSONSerialization.data(withJSONObject: body)
        }
        let (data, status) = try Simulator.send(request)
        guard (200..<300).contains(status) else {
            throw SimulatorError(message: "\(method) /_sim/\(path) answered \(status): \(String(decoding: data, as: UTF8.self))")
        }
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }

    /// Registers a key with the simulator: restricted keys get exactly `permissions` (rak names).
    func register(key: String, account: String? = nil, permissions: [String] = []) throws {
        var body: [String: Any] = ["key": key, "permissions": permissions]
        if let account { body["account"] = account }
        try control("POST", "keys", body)
    }

    static func send(_ request: URLRequest) throws -> (Data, Int) {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Result<(Data, Int), any Error> = .failure(SimulatorError(message: "no answer"))
        URLSession.shared.dataTask(with: request) { data, response, error in
            if let error { result = .failure(error) } else {
                result = .success((data ?? Data(), (response as? HTTPURLResponse)?.statusCode ?? 0))
            }
            done.signal()
        }.resume()
        done.wait()
        return try result.get()
    }
}

/// The eight permissions' rak names, in the table's order.
let eightPermissions = [
    "rak_account_read", "rak_customer_write", "rak_payment_method_read", "rak_checkout_session_write",
    "rak_billing_portal_session_write", "rak_invoice_write", "rak_tax_calculation_write", "rak_webhook_endpoint_write",
]
