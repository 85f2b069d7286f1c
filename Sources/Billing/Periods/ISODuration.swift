import Foundation

/// An ISO 8601 duration such as `P1M`, `P2W`, `P1Y`, `PT1H` or `P90D`.
///
/// Kept as calendar months, days and seconds, because a month is not a fixed number of
/// seconds: adding months clamps to the month's last day (see `adding(_:times:to:)`).
public struct ISODuration: Hashable, Sendable, CustomStringConvertible {
    /// Equal when they step the same: P1Y is P12M, P2W is P14D. The text is not compared, so
    /// re-importing a plan written with the other spelling is not a change to it.
    public static func == (lhs: ISODuration, rhs: ISODuration) -> Bool {
        (lhs.months, lhs.days, lhs.seconds) == (rhs.months, rhs.days, rhs.seconds)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(months)
        hasher.combine(days)
        hasher.combine(seconds)
    }

    public let months: Int
    public let days: Int
    public let seconds: Int
    /// The text it was parsed from, kept so a catalog round-trips unchanged.
    public let text: String

    public init(months: Int = 0, days: Int = 0, seconds: Int = 0) {
        self.months = months
        self.days = days
        self.seconds = seconds
        var text = "P"
        if months % 12 == 0, months != 0 { text += "\(months / 12)Y" } else if months != 0 { text += "\(months)M" }
        if days % 7 == 0, days != 0 { text += "\(days / 7)W" } else if days != 0 { text += "\(days)D" }
        if seconds != 0 {
            text += "T"
            if seconds % 3600 == 0 { text += "\(seconds / 3600)H" }
            else if seconds % 60 == 0 { text += "\(seconds / 60)M" }
            else { text += "\(seconds)S" }
        }
        self.text = text == "P" ? "PT0S" : text
    }

    /// Parses `PnYnMnWnDTnHnMnS` with whole numbers; nil for anything else.
    public init?(_ text: String) {
        var months = 0, days = 0, seconds = 0
        var inTime = false
        var number: Int? = nil
        var sawComponent = false
        var characters = text.makeIterator()
        guard characters.next() == "P" else { return nil }
        while let c = characters.next() {
            if let digit = c.wholeNumberValue, c.isASCII {
                let (value, overflow) = (number ?? 0).multipliedReportingOverflow(by: 10)
                guard !overflow, value < 100_000 else { return nil }
                number = value + digit
                continue
            }
            if c == "T" {
                guard !inTime, number == nil else { return nil }
                inTime = true
                continue
            }
            guard let n = number else { return nil }
            switch (c, inTime) {
            case ("Y", false): months += n * 12
            case ("M", false): months += n
            case ("W", false): days += n * 7
            case ("D", false): days += n
            case ("H", true): seconds += n * 3600
            case ("M", true): seconds += n * 60
            case ("S", true): seconds += n
            default: return nil
            }
            number = nil
            sawComponent = true
        }
        guard sawComponent, number == nil else { return nil }
        self.months = months
        self.days = days
        self.seconds = seconds
        self.text = text
    }

    public var description: String { text }

    public var isZero: Bool { months == 0 && days == 0 && seconds == 0 }

    /// A rough length in seconds, for estimates only (a month counted as 30.436875 days).
    var approximateSeconds: Int64 {
        Int64(months) * 2_629_746 + Int64(days) * 86_400 + Int64(seconds)
    }

    /// `start` plus `times` of this duration, computed from `start` in one step so months clamp
    /// without drifting: P1M from Jan 31 gives Feb 28 (29 in a leap year), Mar 31, Apr 30.
    public func adding(times: Int, to start: Instant) -> Instant {
        var result = start
        if months != 0 {
            let c = start.civil
            let monthIndex = c.year * 12 + (c.month - 1) + months * times
            let year = Int(floorDiv(Int64(monthIndex), 12))
            let month = monthIndex - year * 12 + 1
            let day = min(c.day, Instant.daysInMonth(year: year, month: month))
            result = Instant(year: year, month: month, day: day, hour: c.hour, minute: c.minute, second: c.second)
        }
        return result + (Int64(days) * 86_400 + Int64(seconds)) * Int64(times)
    }
}

extension ISODuration: Comparable {
    /// Orders by approximate length; exact for durations of one kind (months or fixed time).
    public static func < (lhs: ISODuration, rhs: ISODuration) -> Bool {
        lhs.approximateSeconds < rhs.approximateSeconds
    }
}
