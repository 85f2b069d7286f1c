import Billing

/// Reads CloudEvents 1.0 NDJSON lines into usage events for a set of meters.
///
/// The byte scanner handles the common shape; anything else goes through `JSONSerialization`
/// with the same rules, so the result never depends on which path read the line.
public struct EventParser: Sendable {
    public let meters: MeterSet

    public init(meters: MeterSet) { self.meters = meters }

    public init(meters: [Meter]) throws(MeterSet.PathError) { self.meters = try MeterSet(meters: meters) }

    /// One line without its newline.
    public func parse(_ line: UnsafeRawBufferPointer) -> ParsedLine {
        var scanner = EventScanner(meters: meters, line: line)
        return scanner.scan() ?? FallbackParser.parse(line, meters: meters)
    }

    public func parse(_ line: some Collection<UInt8>) -> ParsedLine {
        if let result = line.withContiguousStorageIfAvailable({ parse(UnsafeRawBufferPointer($0)) }) { return result }
        return Array(line).withUnsafeBytes { parse($0) }
    }

    public func parse(_ line: String) -> ParsedLine {
        var line = line
        return line.withUTF8 { parse(UnsafeRawBufferPointer($0)) }
    }

    /// An accepted event as ingest needs it: its identity as the two hashes, without the texts
    /// of `source` and `id`, its subject's customer, and what each of its meters takes from it,
    /// without its values.
    struct IngestEvent {
        var hash: UInt64
        var hash2: UInt64
        /// The slot of the customer whose usage-attribution key the subject is (`SubjectTable`).
        var customer: Int?
        /// The subject when no customer has it, for the rejection; otherwise empty.
        var unknownSubject: String
        var time: Instant
        /// Its first meter's input; `more` holds the others (empty for a type that feeds one).
        var input: SegmentBuilder.Input
        var more: [SegmentBuilder.Input]

        init(hash: UInt64, hash2: UInt64, customer: Int?, unknownSubject: @autoclosure () -> String, time: Instant,
             meterIndices: [Int], values: [DataValue?], meters: MeterSet) {
            self.hash = hash
            self.hash2 = hash2
            self.customer = customer
            self.unknownSubject = customer == nil ? unknownSubject() : ""
            self.time = time
            input = SegmentBuilder.Input(values: values, meter: meterIndices[0], meters: meters)
            more = meterIndices.dropFirst().map { SegmentBuilder.Input(values: values, meter: $0, meters: meters) }
        }
    }

    /// A scanner to reuse across `parseForIngest` calls.
    func ingestScanner() -> EventScanner { EventScanner(meters: meters, line: UnsafeRawBufferPointer(start: nil, count: 0)) }

    /// Parses a line for ingest with a reused scanner (see `ingestScanner`), finding the
    /// subject's customer in `subjects`.
    func parseForIngest(_ line: UnsafeRawBufferPointer, scanner: inout EventScanner, subjects: SubjectTable) -> Scanned<IngestEvent> {
        scanner.reset(line: line)
        let meters = self.meters
        let scanned = scanner.scan { source, id, subject, time, entry, values in
            IngestEvent(hash: EventIdentity.hash(source: source, id: id), hash2: EventIdentity.hash2(source: source, id: id),
                        customer: subjects.slot(of: subject), unknownSubject: String(decoding: subject, as: UTF8.self), time: time,
                        meterIndices: entry.meters, values: values, meters: meters)
        }
        if let scanned { return scanned }
        switch FallbackParser.parse(line, meters: meters) {
        case .accepted(let event):
            return .accepted(IngestEvent(hash: event.identity.hash, hash2: event.identity.hash2, customer: subjects.slot(of: event.subject),
                                         unknownSubject: event.subject, time: event.time, meterIndices: event.meterIndices,
                                         values: event.values, meters: meters))
        case .rejected(let rejection):
            return .rejected(rejection)
        }
    }

    /// The scanner alone: nil where it defers to the fallback. For tests that hold the two paths
    /// to the same answers.
    public func scanOnly(_ line: UnsafeRawBufferPointer) -> ParsedLine? {
        var scanner = EventScanner(meters: meters, line: line)
        return scanner.scan()
    }

    /// The fallback alone, for the same tests.
    public func fallbackOnly(_ line: UnsafeRawBufferPointer) -> ParsedLine {
        FallbackParser.parse(line, meters: meters)
    }

    /// The meter value of an accepted event: nil for COUNT; a number for numeric meters; the
    /// counted text for UNIQUE_COUNT.
    public func reading(of event: UsageEvent, meter index: Int) -> MeterReading {
        meters.reading(of: event, meter: index)
    }
}

/// What the scanner made of a line.
enum Scanned<Event> {
    case accepted(Event)
    case rejected(Rejection)
}

/// What one meter takes from one event.
public enum MeterReading: Hashable, Sendable {
    case count
    case number(MeterNumber)
    case distinct(String)
}

extension MeterSet {
    func reading(of event: UsageEvent, meter index: Int) -> MeterReading {
        reading(of: event.values, meter: index)
    }

    /// The reading of meter `index` from an event's values (`UsageEvent.values`).
    func reading(of values: [DataValue?], meter index: Int) -> MeterReading {
        guard let slot = valueSlots[index] else { return .count }
        let value = values[slot]
        switch meters[index].aggregation {
        case .count:
            return .count
        case .uniqueCount:
            return .distinct(value?.keyText ?? "")
        case .sum, .max, .min, .avg, .latest:
            switch value {
            case .number(let number)?: return .number(number)
            case .string(let text)?:
                if case .number(let number) = MeterNumber.parse(text) { return .number(number) }
                return .number(.zero)
            case nil, .bool?, .null?, .structured?, .unrepresentableNumber?:
                // Accepted events always have a number here (`check`); zero keeps this total.
                return .number(.zero)
            }
        }
    }

    /// The group-by values of `event` for meter `index`, in `groupNames` order; nil where absent.
    func groupValues(of event: UsageEvent, meter index: Int) -> [String?] {
        let slots = groupSlots[index]
        if slots.isEmpty { return [] }
        return slots.map { event.values[$0]?.keyText }
    }
}
