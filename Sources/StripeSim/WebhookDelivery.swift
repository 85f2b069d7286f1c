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
    /// The `t=` of the Stripe-Signature header sent, so a test can tell a late signature.
    var signedAt: Int64

    var json: JSON {
        ["event": .string(eventId), "type": .string(type), "endpoint": .string(endpoint), "attempt": .int(Int64(attempt)),
         "status": .int(Int64(status)), "succeeded": .bool(succeeded), "signed_at": .int(signedAt)]
    }
}

/// A delivery kept back by `POST /_sim/webhooks/hold`, as `GET /_sim/webhooks/held` lists it.
struct HeldDelivery: Sendable {
    var eventId: String
    var type: String
    var endpoint: String

    var json: JSON { ["event": .string(eventId), "type": .string(type), "endpoint": .string(endpoint)] }
}

/// Where one event goes: an endpoint's id, URL and signing secret.
struct DeliveryTarget: Sendable {
    var endpoint: String
    var url: String
    var secret: String
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
///
/// One thread sends one delivery at a time, the one due first (ties in the order queued), so
/// deliveries queued with increasing due times arrive in that order. While holding, new events
/// are kept back instead, until released (in creation order or reversed) or discarded.
final class WebhookDeliverer: @unchecked Sendable {
    private struct Job {
        var eventId: String
        var type: String
        var target: DeliveryTarget
        var payload: [UInt8]
        var attempt: Int
        var due: Double
        /// Seconds the signature's timestamp is set back from the time of sending.
        var signatureAge: Int64
        /// Order of queueing, which breaks ties between equal due times.
        var sequence: Int
    }

    /// The gap between the due times of deliveries queued to go one after another.
    private static let spacing = 0.001

    private let retryDelays: [Double]
    private let clock: SimulatorClock
    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var held: [Job] = []
    private var holding = false
    private var records: [DeliveryRecord] = []
    private var started = false
    private var nextSequence = 0
    /// Bumped by `reset`, so a delivery in flight when state is cleared is not recorded.
    private var generation = 0

    init(retryDelays: [Double], clock: SimulatorClock) {
        self.retryDelays = retryDelays
        self.clock = clock
    }

    /// Queues a newly made event for one endpoint, or keeps it back while holding.
    func enqueue(event: JSON, eventId: String, type: String, target: DeliveryTarget) {
        condition.lock()
        defer { condition.unlock() }
        let job = makeJob(eventId: eventId, type: type, target: target, payload: event.bytes, due: clock.monotonic(), signatureAge: 0)
        if holding {
            held.append(job)
        } else {
            schedule([job])
        }
    }

    /// Queues a stored event again, whether or not deliveries are held: `times` copies to each
    /// target, the first after `delay` seconds, each signed `signatureAge` seconds in the past.
    /// Returns how many deliveries were queued.
    func redeliver(event: JSON, eventId: String, type: String, to targets: [DeliveryTarget], times: Int, delay: Double,
                   signatureAge: Int64) -> Int {
        condition.lock()
        defer { condition.unlock() }
        let payload = event.bytes
        let start = clock.monotonic() + delay
        var queued: [Job] = []
        for _ in 0..<times {
            for target in targets {
                queued.append(makeJob(eventId: eventId, type: type, target: target, payload: payload,
                                      due: start + Double(queued.count) * Self.spacing, signatureAge: signatureAge))
            }
        }
        schedule(queued)
        return queued.count
    }

    /// Keeps every later event back until `release` or `discard`. Returns how many are held.
    func hold() -> Int {
        condition.lock()
        defer { condition.unlock() }
        holding = true
        return held.count
    }

    /// The held deliveries in the order their events were made.
    var heldDeliveries: [HeldDelivery] {
        condition.lock()
        defer { condition.unlock() }
        return held.map { HeldDelivery(eventId: $0.eventId, type: $0.type, endpoint: $0.target.endpoint) }
    }

    /// Sends every held delivery, one after another in creation order or its reverse, and stops
    /// holding. Returns how many were released.
    func release(reversed: Bool) -> Int {
        condition.lock()
        defer { condition.unlock() }
        var released = reversed ? Array(held.reversed()) : held
        held = []
        holding = false
        let start = clock.monotonic()
        for index in released.indices {
            released[index].due = start + Double(index) * Self.spacing
            released[index].sequence = takeSequence()
        }
        schedule(released)
        return released.count
    }

    /// Drops the held deliveries, as if Stripe never sent them, and stops holding. Returns how
    /// many were dropped.
    func discard() -> Int {
        condition.lock()
        defer { condition.unlock() }
        let count = held.count
        held = []
        holding = false
        return count
    }

    var deliveries: [DeliveryRecord] {
        condition.lock()
        defer { condition.unlock() }
        return records
    }

    /// Drops pending and held deliveries, stops holding and forgets past deliveries.
    func reset() {
        condition.lock()
        jobs.removeAll()
        held.removeAll()
        holding = false
        records.removeAll()
        generation += 1
        condition.unlock()
    }

    /// A first attempt; call with the lock held.
    private func makeJob(eventId: String, type: String, target: DeliveryTarget, payload: [UInt8], due: Double,
                         signatureAge: Int64) -> Job {
        Job(eventId: eventId, type: type, target: target, payload: payload, attempt: 1, due: due, signatureAge: signatureAge,
            sequence: takeSequence())
    }

    private func takeSequence() -> Int {
        nextSequence += 1
        return nextSequence
    }

    /// Adds jobs for the delivery thread, starting it on first use; call with the lock held.
    private func schedule(_ added: [Job]) {
        guard !added.isEmpty else { return }
        jobs.append(contentsOf: added)
        if !started {
            started = true
            let thread = Thread { [self] in run() }
            thread.name = "webhook-delivery"
            thread.start()
        }
        condition.signal()
    }

    private func run() {
        let handle = CurlHandle()
        while true {
            condition.lock()
            var job: Job?
            while job == nil {
                let now = clock.monotonic()
                if let index = jobs.indices.min(by: { (jobs[$0].due, jobs[$0].sequence) < (jobs[$1].due, jobs[$1].sequence) }) {
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
            // Real time, as Stripe's is and as the receiver checks it: `POST /_sim/clock` does
            // not move it.
            let timestamp = Int64(clock.wall()) - job.signatureAge
            let signature = WebhookSignature.header(secret: job.target.secret, timestamp: timestamp, body: job.payload)
            let status = handle.post(url: job.target.url, body: job.payload, headers: [
                "Content-Type: application/json; charset=utf-8",
                "Stripe-Signature: \(signature)",
                "User-Agent: Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            ])
            let succeeded = (200..<300).contains(status)

            condition.lock()
            if current == generation {
                records.append(DeliveryRecord(eventId: job.eventId, type: job.type, endpoint: job.target.endpoint, attempt: job.attempt,
                                              status: status, succeeded: succeeded, signedAt: timestamp))
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
