internal import CCurl
import Crypto
import Foundation

/// One delivery attempt, as `GET /_sim/deliveries` lists it.
struct DeliveryRecord: Sendable {
    var eventId: String
    var type: String
    var endpoint: String
    var attempt: Int
    /// The endpoint's HTTP status, or 0 when it could not be reached.
    var status: Int
    var succeeded: Bool

    var json: JSON {
        ["event": .string(eventId), "type": .string(type), "endpoint": .string(endpoint), "attempt": .int(Int64(attempt)),
         "status": .int(Int64(status)), "succeeded": .bool(succeeded)]
    }
}

/// Stripe's webhook signature: `t=UNIX,v1=HEX` where v1 is HMAC-SHA256 with the endpoint's
/// secret over "{t}.{body}".
public enum WebhookSignature {
    public static func header(secret: String, timestamp: Int64, body: [UInt8]) -> String {
        "t=\(timestamp),v1=\(v1(secret: secret, timestamp: timestamp, body: body))"
    }

    public static func v1(secret: String, timestamp: Int64, body: [UInt8]) -> String {
        var message = Array("\(timestamp).".utf8)
        message.append(contentsOf: body)
        let code = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Array(secret.utf8)))
        return code.map { String(format: "%02x", $0) }.joined()
    }
}

/// Posts events to webhook endpoints on a background thread, so API calls are not delayed. A
/// delivery that fails (no 2xx answer) is retried after each of `retryDelays`, then dropped.
final class WebhookDeliverer: @unchecked Sendable {
    private struct Job {
        var eventId: String
        var type: String
        var endpoint: String
        var url: String
        var secret: String
        var payload: [UInt8]
        var attempt: Int
        var due: Double
    }

    private let retryDelays: [Double]
    private let clock: SimulatorClock
    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var records: [DeliveryRecord] = []
    private var started = false
    /// Bumped by `reset`, so a delivery in flight when state is cleared is not recorded.
    private var generation = 0

    init(retryDelays: [Double], clock: SimulatorClock) {
        self.retryDelays = retryDelays
        self.clock = clock
    }

    func enqueue(event: JSON, eventId: String, type: String, endpoint: String, url: String, secret: String) {
        condition.lock()
        jobs.append(Job(eventId: eventId, type: type, endpoint: endpoint, url: url, secret: secret, payload: event.bytes,
                        attempt: 1, due: clock.monotonic()))
        if !started {
            started = true
            let thread = Thread { [self] in run() }
            thread.name = "webhook-delivery"
            thread.start()
        }
        condition.signal()
        condition.unlock()
    }

    var deliveries: [DeliveryRecord] {
        condition.lock()
        defer { condition.unlock() }
        return records
    }

    /// Drops pending deliveries and the record of past ones.
    func reset() {
        condition.lock()
        jobs.removeAll()
        records.removeAll()
        generation += 1
        condition.unlock()
    }

    private func run() {
        let handle = CurlHandle()
        while true {
            condition.lock()
            var job: Job?
            while job == nil {
                let now = clock.monotonic()
                if let index = jobs.indices.min(by: { jobs[$0].due < jobs[$1].due }) {
                    if jobs[index].due <= now {
                        job = jobs.remove(at: index)
                    } else {
                        _ = condition.wait(until: Date(timeIntervalSinceNow: jobs[index].due - now))
                    }
                } else {
                    condition.wait()
                }
            }
            let current = generation
            condition.unlock()

            guard var job else { continue }
            let timestamp = Int64(clock.wall())
            let signature = WebhookSignature.header(secret: job.secret, timestamp: timestamp, body: job.payload)
            let status = handle.post(url: job.url, body: job.payload, headers: [
                "Content-Type: application/json; charset=utf-8",
                "Stripe-Signature: \(signature)",
                "User-Agent: Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            ])
            let succeeded = (200..<300).contains(status)

            condition.lock()
            if current == generation {
                records.append(DeliveryRecord(eventId: job.eventId, type: job.type, endpoint: job.endpoint, attempt: job.attempt,
                                              status: status, succeeded: succeeded))
                if !succeeded, job.attempt <= retryDelays.count {
                    job.due = clock.monotonic() + retryDelays[job.attempt - 1]
                    job.attempt += 1
                    jobs.append(job)
                }
            }
            condition.unlock()
        }
    }
}

/// One reused libcurl easy handle for webhook POSTs.
private final class CurlHandle {
    private static let initialized: Bool = {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
        return true
    }()

    private let handle: UnsafeMutableRawPointer?

    init() {
        _ = CurlHandle.initialized
        handle = curl_easy_init()
    }

    deinit { curl_easy_cleanup(handle) }

    /// POSTs `body` and returns the HTTP status, or 0 when no answer came.
    func post(url: String, body: [UInt8], headers: [String]) -> Int {
        guard let handle else { return 0 }
        curl_easy_reset(handle)
        var list: UnsafeMutablePointer<curl_slist>?
        for header in headers + ["Expect:"] { list = curl_slist_append(list, header) }
        defer { curl_slist_free_all(list) }
        _ = tollbooth_curl_setopt_string(handle, CURLOPT_URL, url)
        _ = tollbooth_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        _ = tollbooth_curl_setopt_long(handle, CURLOPT_POST, 1)
        _ = tollbooth_curl_setopt_long(handle, CURLOPT_POSTFIELDSIZE, body.count)
        _ = body.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: body.count) {
                tollbooth_curl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: $0))
            }
        }
        _ = tollbooth_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, list)
        _ = tollbooth_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, 2000)
        _ = tollbooth_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, 5000)
        _ = tollbooth_curl_setopt_write(handle, CURLOPT_WRITEFUNCTION) { _, size, count, _ in size * count }
        guard curl_easy_perform(handle) == CURLE_OK else { return 0 }
        var status = 0
        _ = tollbooth_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return status
    }
}
