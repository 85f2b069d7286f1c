import Billing
import Foundation
import Pipeline
import Store

/// The customer's usage page (`GET /portal/usage?token=...`): HTML and inline SVG, no script.
/// Per metered feature the usage of its usage period against the quota, a bar chart of usage per
/// UTC day of the billing period with the quota's daily share drawn as a dashed line, and the
/// projected invoice of the next bill date.
enum UsagePage {
    /// The chart's bar colour: one used nowhere else on the page (tests find the bars by it).
    static let barColour = "#2563eb"
    static let quotaColour = "#dc2626"

    static func html(_ report: UsageReport) -> String {
        var body = ""
        body += "<header><p class=\"eyebrow\">Usage</p><h1>\(escape(report.customer.name.isEmpty ? report.customer.key : report.customer.name))</h1>"
        if let subscription = report.subscription, let billing = report.billingPeriod {
            body += "<p class=\"meta\"><span>Plan <strong>\(escape(subscription.plan.name))</strong></span>"
                + "<span>Billing period <strong>\(range(billing))</strong></span>"
                + "<span>As of \(escape(dateTime(report.now)))</span></p>"
        } else {
            body += "<p class=\"meta\"><span>No subscription in service</span><span>As of \(escape(dateTime(report.now)))</span></p>"
        }
        body += "</header>"
        for feature in report.features {
            body += section(feature, billing: report.billingPeriod, now: report.now)
        }
        if report.subscription != nil, report.features.isEmpty {
            body += "<section class=\"card\"><p>The plan has no metered features.</p></section>"
        }
        body += invoice(report.invoice)
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="referrer" content="no-referrer">
            <title>Usage · \(escape(report.customer.name.isEmpty ? report.customer.key : report.customer.name))</title>
            <style>\(style)</style>
            </head>
            <body><main>\(body)</main></body>
            </html>
            """
    }

    // MARK: A feature

    static func section(_ feature: UsageReport.Feature, billing: Period?, now: Instant) -> String {
        var html = "<section class=\"card\"><h2>\(escape(feature.name))</h2>"
        html += "<dl class=\"figures\">"
        html += figure("Used", quantity(feature.usage), note: range(feature.period))
        if let limit = feature.limit {
            html += figure("Quota", quantity(limit), note: feature.entitlement?.isSoftLimit == true ? "soft limit: overage is billed" : "hard limit")
            html += figure("Left", quantity(feature.balance ?? 0), note: "until \(date(feature.period.end))")
            if let overage = feature.overage, overage > 0 { html += figure("Overage", quantity(overage), note: "billed at the plan's price") }
        }
        html += "</dl>"
        if let limit = feature.limit, limit > 0 {
            let share = min(feature.usage / limit, 1)
            let percent = (share * 100).rounded(scale: 1)
            let level = share >= 1 ? "full" : share >= Decimal(string: "0.8")! ? "high" : "ok"
            html += "<div class=\"meter \(level)\" role=\"img\" aria-label=\"\(percent.plainString)% of the quota used\">"
                + "<div style=\"width: \(percent.plainString)%\"></div></div>"
                + "<p class=\"small\">\(percent.plainString)% of the quota used</p>"
        }
        if let denial = feature.denial {
            html += "<p class=\"denied\">\(escape(denial.description.prefix(1).uppercased() + denial.description.dropFirst()))</p>"
        }
        if billing != nil, !feature.daily.isEmpty {
            html += chart(feature, now: now)
            html += "<details><summary>Daily figures</summary><table class=\"daily\"><thead><tr><th>Day (UTC)</th><th class=\"num\">Usage</th></tr></thead><tbody>"
            for day in feature.daily where day.day <= now {
                html += "<tr><td>\(date(day.day))</td><td class=\"num\">\(quantity(day.value))</td></tr>"
            }
            html += "</tbody></table></details>"
        }
        return html + "</section>"
    }

    static func figure(_ label: String, _ value: String, note: String) -> String {
        "<div><dt>\(escape(label))</dt><dd>\(escape(value))</dd><dd class=\"note\">\(escape(note))</dd></div>"
    }

    // MARK: The chart

    /// The chart's geometry, in SVG user units.
    struct Frame {
        static let width = 760.0, height = 300.0
        static let left = 70.0, right = 20.0, top = 44.0, bottom = 52.0
        static var plotWidth: Double { width - left - right }
        static var plotHeight: Double { height - top - bottom }
        static var baseline: Double { top + plotHeight }
    }

    /// The bar chart of a feature's daily usage: one bar per UTC day of the billing period, the
    /// quota's daily share as a dashed line, labelled axes and gridlines at round values.
    static func chart(_ feature: UsageReport.Feature, now: Instant) -> String {
        let days = feature.daily
        let values = days.map { double($0.value) }
        let share = feature.dailyQuota.map(double)
        let scale = Scale(maximum: max(values.max() ?? 0, share ?? 0))
        let slot = Frame.plotWidth / Double(days.count), barWidth = max(1, (slot * 0.7).rounded(.down))
        let unit = "\(feature.name) per day"
        var svg = "<svg class=\"chart\" viewBox=\"0 0 \(Frame.width) \(Frame.height)\" width=\"\(Int(Frame.width))\" height=\"\(Int(Frame.height))\" "
            + "role=\"img\" aria-labelledby=\"t-\(escape(feature.key))\" xmlns=\"http://www.w3.org/2000/svg\">"
        svg += "<title id=\"t-\(escape(feature.key))\">\(escape(unit)) over the billing period</title>"
        // Legend, above the plot.
        svg += "<g class=\"legend\"><rect x=\"\(Frame.left)\" y=\"12\" width=\"14\" height=\"14\" rx=\"2\" fill=\"\(barColour)\"/>"
            + "<text x=\"\(Frame.left + 20)\" y=\"23\">Usage per day</text>"
        if let limit = feature.limit, let perDay = feature.dailyQuota {
            let days = (Decimal(feature.period.seconds) / Decimal(EventKeyBlock.secondsPerDay)).rounded(scale: 2)
            svg += "<line x1=\"\(Frame.left + 150)\" y1=\"19\" x2=\"\(Frame.left + 178)\" y2=\"19\" stroke=\"\(quotaColour)\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>"
                + "<text x=\"\(Frame.left + 184)\" y=\"23\">Daily share of the quota (\(escape(quantity(limit))) over \(escape(quantity(days))) days = \(escape(quantity(perDay)))/day)</text>"
        }
        svg += "</g>"
        // Gridlines and the y axis's values.
        for tick in scale.ticks {
            let y = Frame.baseline - tick / scale.top * Frame.plotHeight
            svg += "<line class=\"grid\" x1=\"\(Frame.left)\" y1=\"\(f(y))\" x2=\"\(Frame.left + Frame.plotWidth)\" y2=\"\(f(y))\"/>"
            svg += "<text class=\"tick\" x=\"\(Frame.left - 8)\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(escape(scale.label(tick)))</text>"
        }
        // Axes, under the bars: a bar stands on the baseline and covers it.
        svg += "<line class=\"axis\" x1=\"\(Frame.left)\" y1=\"\(Frame.baseline)\" x2=\"\(Frame.left + Frame.plotWidth)\" y2=\"\(Frame.baseline)\"/>"
        svg += "<line class=\"axis\" x1=\"\(Frame.left)\" y1=\"\(Frame.top)\" x2=\"\(Frame.left)\" y2=\"\(Frame.baseline)\"/>"
        // Bars, one per day; none for a day with no usage.
        for (index, value) in values.enumerated() where value > 0 {
            let height = value / scale.top * Frame.plotHeight
            let x = Frame.left + Double(index) * slot + (slot - barWidth) / 2
            svg += "<rect class=\"bar\" x=\"\(f(x))\" y=\"\(f(Frame.baseline - height))\" width=\"\(f(barWidth))\" height=\"\(f(height))\" fill=\"\(barColour)\">"
                + "<title>\(date(days[index].day)): \(escape(quantity(days[index].value)))</title></rect>"
        }
        // The quota's daily share, over the bars.
        if let share {
            let y = Frame.baseline - share / scale.top * Frame.plotHeight
            svg += "<line x1=\"\(Frame.left)\" y1=\"\(f(y))\" x2=\"\(Frame.left + Frame.plotWidth)\" y2=\"\(f(y))\" stroke=\"\(quotaColour)\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>"
        }
        // The days: every day of a short period; the first, each 1st and every 5th of a month
        // (but the last days, beside the next 1st); over two months, each 1st.
        for (index, day) in days.enumerated() {
            let civil = day.day.civil
            let labelled = days.count <= 16 ? true
                : days.count <= 62 ? index == 0 || civil.day == 1
                    || (civil.day % 5 == 0 && civil.day <= Instant.daysInMonth(year: civil.year, month: civil.month) - 3)
                : civil.day == 1 || (index == 0 && civil.day < 20)
            guard labelled else { continue }
            let x = Frame.left + (Double(index) + 0.5) * slot
            let label = days.count > 62 ? "\(monthNames[civil.month - 1]) \(civil.day)"
                : index == 0 || civil.day == 1 ? "\(monthNames[civil.month - 1]) \(civil.day)" : "\(civil.day)"
            svg += "<line class=\"axis\" x1=\"\(f(x))\" y1=\"\(Frame.baseline)\" x2=\"\(f(x))\" y2=\"\(Frame.baseline + 4)\"/>"
            svg += "<text class=\"tick\" x=\"\(f(x))\" y=\"\(Frame.baseline + 18)\" text-anchor=\"middle\">\(label)</text>"
        }
        svg += "<text class=\"label\" x=\"\(Frame.left + Frame.plotWidth / 2)\" y=\"\(Frame.height - 8)\" text-anchor=\"middle\">Day (UTC)</text>"
        svg += "<text class=\"label\" transform=\"translate(16 \(f(Frame.top + Frame.plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\">\(escape(unit))</text>"
        return svg + "</svg>"
    }

    /// The y axis: from 0 to a round top above the largest value, with 4 or 5 round ticks.
    struct Scale {
        let top: Double
        let ticks: [Double]
        /// The step is factor x 10^exponent.
        let exponent: Int
        let factor: Double

        init(maximum: Double) {
            let largest = maximum > 0 ? maximum : 1
            let raw = largest / 4
            let exponent = Int(log10(raw).rounded(.down))
            let magnitude = pow(10, Double(exponent))
            let factor = [1, 2, 2.5, 5, 10].first { $0 * magnitude >= raw } ?? 10
            let step = factor * magnitude
            var top = (largest / step).rounded(.up) * step
            if top <= maximum { top += step }
            self.top = top
            ticks = (0...Int((top / step).rounded())).map { Double($0) * step }
            self.exponent = exponent
            self.factor = factor
        }

        /// A tick's label: thousands as k, millions as M, billions as B from 10,000 on, so the
        /// labels stay narrow (1,500,000 -> 1.5M).
        func label(_ value: Double) -> String {
            guard value != 0 else { return "0" }
            let thousands = top >= 10_000 ? min(3, Int(log10(top).rounded(.down)) / 3) : 0
            let suffix = ["", "k", "M", "B"][thousands]
            let shifted = exponent - 3 * thousands
            let places = max(0, -shifted + (factor == 2.5 ? 1 : 0))
            let scaled = value / pow(10, Double(3 * thousands))
            return UsagePage.grouped((Decimal(string: String(format: "%.\(places)f", scaled)) ?? 0).plainString) + suffix
        }
    }

    // MARK: The projected invoice

    static func invoice(_ draft: DraftInvoice?) -> String {
        guard let draft else {
            return "<section class=\"card\"><h2>Next invoice</h2><p>No bill date ahead: there is no subscription in service.</p></section>"
        }
        func money(_ amount: Decimal) -> String { "\(Money(amount, draft.currency).formatted) \(draft.currency.code)" }
        var html = "<section class=\"card\"><h2>Next invoice</h2>"
        html += "<p class=\"small\">Projected for the bill date \(date(draft.billDate)) from the usage so far; amounts may change until then.</p>"
        guard !draft.lines.isEmpty else { return html + "<p>Nothing to bill on that date so far.</p></section>" }
        html += "<table class=\"invoice\"><thead><tr><th>Description</th><th>Service period</th><th class=\"num\">Quantity</th><th class=\"num\">Amount</th></tr></thead><tbody>"
        for line in draft.lines {
            html += "<tr><td>\(escape(line.description))</td><td>\(range(line.period))</td>"
                + "<td class=\"num\">\(line.quantity.map(quantity) ?? "")</td><td class=\"num\">\(escape(money(line.amount)))</td></tr>"
        }
        html += "</tbody><tfoot>"
        html += "<tr><td colspan=\"3\">Subtotal</td><td class=\"num\">\(escape(money(draft.subtotal)))</td></tr>"
        html += "<tr><td colspan=\"3\">Tax</td><td class=\"num\">\(escape(money(draft.tax)))</td></tr>"
        html += "<tr class=\"total\"><td colspan=\"3\">Total</td><td class=\"num\">\(escape(money(draft.total)))</td></tr>"
        return html + "</tfoot></table></section>"
    }

    // MARK: Text

    static let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func date(_ instant: Instant) -> String {
        let c = instant.civil
        return "\(c.day) \(monthNames[c.month - 1]) \(c.year)"
    }

    static func dateTime(_ instant: Instant) -> String {
        let c = instant.civil
        return date(instant) + String(format: ", %02d:%02d UTC", c.hour, c.minute)
    }

    /// A half-open period as the days it covers: its end is the first instant after it.
    static func range(_ period: Period) -> String {
        let last = period.end > period.start ? period.end + -1 : period.end
        return date(period.start) == date(last) ? date(period.start) : "\(date(period.start)) – \(date(last))"
    }

    /// A quantity for people: thousands grouped, at most 2 decimals (half away from zero), or 6
    /// for a value that 2 would show as 0.
    static func quantity(_ value: Decimal) -> String {
        let short = value.rounded(scale: 2)
        return grouped((short == 0 && value != 0 ? value.rounded(scale: 6) : short).plainString)
    }

    /// Decimal text with its whole part grouped by thousands.
    static func grouped(_ text: String) -> String {
        let negative = text.hasPrefix("-")
        let digits = negative ? String(text.dropFirst()) : text
        let parts = digits.split(separator: ".", maxSplits: 1)
        var whole = String(parts[0])
        var grouped = ""
        while whole.count > 3 {
            grouped = "," + whole.suffix(3) + grouped
            whole = String(whole.dropLast(3))
        }
        return (negative ? "-" : "") + whole + grouped + (parts.count > 1 ? "." + parts[1] : "")
    }

    /// Chart coordinates (not amounts) to 2 decimals.
    static func f(_ value: Double) -> String { String(format: "%.2f", value) }

    static func double(_ value: Decimal) -> Double { NSDecimalNumber(decimal: value).doubleValue }

    static func escape(_ text: some StringProtocol) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    static let style = """
        :root { color-scheme: light; }
        * { box-sizing: border-box; }
        body { margin: 0; background: #f5f6f8; color: #1f2328;
               font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "DejaVu Sans", Arial, sans-serif; }
        main { max-width: 840px; margin: 0 auto; padding: 32px 24px 48px; }
        header { margin-bottom: 20px; }
        .eyebrow { margin: 0; color: #57606a; font-size: 13px; font-weight: 600; letter-spacing: .06em; text-transform: uppercase; }
        h1 { margin: 2px 0 8px; font-size: 28px; line-height: 1.2; }
        h2 { margin: 0 0 12px; font-size: 19px; }
        .meta { display: flex; flex-wrap: wrap; gap: 6px 24px; margin: 0; color: #57606a; }
        .meta strong { color: #1f2328; font-weight: 600; }
        .card { background: #fff; border: 1px solid #d8dee4; border-radius: 10px; padding: 20px 24px; margin: 0 0 20px; }
        .figures { display: flex; flex-wrap: wrap; gap: 12px 40px; margin: 0 0 14px; }
        .figures dt { color: #57606a; font-size: 13px; }
        .figures dd { margin: 0; font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
        .figures dd.note { font-size: 12px; font-weight: 400; color: #57606a; }
        .meter { height: 10px; border-radius: 5px; background: #eaeef2; overflow: hidden; }
        .meter div { height: 100%; background: #1a7f37; }
        .meter.high div { background: #bf8700; }
        .meter.full div { background: #cf222e; }
        .small { margin: 6px 0 0; font-size: 13px; color: #57606a; }
        .denied { margin: 10px 0 0; padding: 8px 12px; border-radius: 6px; background: #ffebe9; color: #82071e; }
        svg.chart { display: block; width: 100%; height: auto; margin-top: 16px; }
        svg.chart text { font: 12px system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "DejaVu Sans", Arial, sans-serif; fill: #57606a; }
        svg.chart .legend text { fill: #1f2328; }
        svg.chart .label { font-size: 13px; fill: #1f2328; }
        svg.chart .grid { stroke: #eaeef2; stroke-width: 1; }
        svg.chart .axis { stroke: #8c959f; stroke-width: 1; }
        details { margin-top: 8px; font-size: 13px; }
        summary { cursor: default; color: #57606a; }
        table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
        th, td { padding: 7px 8px; border-bottom: 1px solid #eaeef2; text-align: left; vertical-align: top; }
        th { font-size: 13px; font-weight: 600; color: #57606a; }
        .num { text-align: right; white-space: nowrap; }
        table.daily { width: auto; min-width: 260px; }
        tfoot td { border-bottom: none; }
        tfoot tr.total td { font-weight: 700; font-size: 16px; border-top: 2px solid #1f2328; }
        """
}
