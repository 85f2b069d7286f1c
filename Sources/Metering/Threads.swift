import Billing
import Dispatch
import Foundation
import Store

/// A result another thread delivers once; `wait` blocks until it has.
final class Pending<Value: Sendable>: @unchecked Sendable {
    private let ready = DispatchSemaphore(value: 0)
    private var result: Result<Value, any Error>?

    func resolve(_ result: Result<Value, any Error>) {
        self.result = result
        ready.signal()
    }

    func wait() throws -> Value {
        ready.wait()
        ready.signal()
        return try result!.get()
    }

    /// True when the value has been delivered, waiting at most `milliseconds` for it.
    func isReady(withinMillis milliseconds: Int) -> Bool {
        guard ready.wait(timeout: .now() + .milliseconds(milliseconds)) == .success else { return false }
        ready.signal()
        return true
    }
}

/// A value the reader thread changes between calls.
final class Box<Value> {
    var value: Value

    init(_ value: Value) { self.value = value }
}

/// Hands values that are only ever used by one thread at a time to another thread.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
}
