import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import TestSupport
import Testing

/// A `stripe-sim` process on a free loopback port for one test, stopped when the test is done.
final class Simulator {
    let process: Process
    let baseURL: String

    init(arguments: [String] = []) throws {
        (process, baseURL, _) = try SimulatorLaunch.start(arguments)
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
        try SimulatorControl.call(baseURL, method, path, body)
    }

    /// Registers a key with the simulator: restricted keys get exactly `permissions` (rak names).
    func register(key: String, account: String? = nil, permissions: [String] = []) throws {
        var body: [String: Any] = ["key": key, "permissions": permissions]
        if let account { body["account"] = account }
        try control("POST", "keys", body)
    }
}

/// The eight permissions' rak names, in the table's order.
let eightPermissions = [
    "rak_account_read", "rak_customer_write", "rak_payment_method_read", "rak_checkout_session_write",
    "rak_billing_portal_session_write", "rak_invoice_write", "rak_tax_calculation_write", "rak_webhook_endpoint_write",
]
