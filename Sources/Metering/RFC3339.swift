import Billing

enum RFC3339 {
    /// Byte-level twin of `Instant(rfc3339:)` for the hot path; the tests hold the two to the same
    /// answers, including floored fractions, offsets and leap second 60 read as 59.
    static func parse(_ b: UnsafeRawBufferPointer) -> Instant? {
        let n = b.count
        guard n >= 20 else { return nil }
        @inline(__always) func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= n else { return nil }
            var value = 0
            for i in from..<from + count {
                let d = b[i] &- 48
                guard d < 10 else { return nil }
                value = value * 10 + Int(d)
            }
            return value
        }
        guard let year = number(0, 4), b[4] == UInt8(ascii: "-"),
              let month = number(5, 2), b[7] == UInt8(ascii: "-"),
              let day = number(8, 2), b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t"),
              let hour = number(11, 2), b[13] == UInt8(ascii: ":"),
              let minute = number(14, 2), b[16] == UInt8(ascii: ":"),
              let second = number(17, 2),
              month >= 1, month <= 12, day >= 1, day <= Instant.daysInMonth(year: year, month: month),
              hour < 24, minute < 60, second < 61
        else { return nil }
        var index = 19
        if b[index] == UInt8(ascii: ".") {
            index += 1
            let start = index
            while index < n, b[index] &- 48 < 10 { index += 1 }
            guard index > start else { return nil }
        }
        guard index < n else { return nil }
        var offset = 0
        switch b[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            guard index + 1 == n else { return nil }
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard index + 6 == n, let oh = number(index + 1, 2), b[index + 3] == UInt8(ascii: ":"),
                  let om = number(index + 4, 2), oh < 24, om < 60 else { return nil }
            offset = (oh * 3600 + om * 60) * (b[index] == UInt8(ascii: "+") ? 1 : -1)
        default:
            return nil
        }
        let local = Instant(year: year, month: month, day: day, hour: hour, minute: minute, second: min(second, 59))
        return Instant(seconds: local.seconds - Int64(offset))
    }
}
