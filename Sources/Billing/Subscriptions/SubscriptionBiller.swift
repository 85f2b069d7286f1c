import Foundation

/// Derives the invoice lines a subscription bills at one bill date, from its timeline, its
/// plan and its usage. Deriving (rather than remembering what was billed) makes a bill run
/// repeatable: the same facts give the same lines whenever they are computed.
public struct SubscriptionBiller {
    public let catalog: Catalog
    public let usage: any UsageSource

    public init(catalog: Catalog, usage: any UsageSource) {
        self.catalog = catalog
        self.usage = usage
    }

    /// A rate card's billing period around an instant: the whole period of its schedule, and
    /// the part billed, cut by the phase window (a subscription's start, a phase's start or end).
    struct CardPeriod {
        let whole: Period
        let billed: Period

        var billedFraction: TimeFraction { TimeFraction(part: billed.seconds, whole: whole.seconds) }
    }

    func cardPeriod(cadence: ISODuration, window: Subscription.PhaseWindow, containing instant: Instant) -> CardPeriod {
        let whole = PeriodSchedule(anchor: window.anchor, cadence: cadence).period(containing: instant)
        let billed = Period(start: max(whole.start, window.start), end: min(whole.end, window.end ?? whole.end))
        return CardPeriod(whole: whole, billed: billed)
    }

    /// Every line `subscription` bills at `billDate`: in-advance fees of periods starting
    /// there, and the in-arrears lines of periods ending there.
    public func lines(for subscription: Subscription, at billDate: Instant) throws -> [InvoiceLine] {
        let serviceEnd = subscription.serviceEnd
        guard billDate >= subscription.start, serviceEnd.map({ $0 > subscription.start }) ?? true else { return [] }
        var lines: [InvoiceLine] = []
        if let window = subscription.window(at: billDate) {
            for card in window.phase.rateCards {
                lines += startingLines(subscription, card, window, billDate)
            }
        }
        // The window that served the last second before the bill date.
        let lastServed = min(billDate, serviceEnd ?? billDate) + -1
        if lastServed >= subscription.start, let window = subscription.phaseWindows.last(where: { $0.contains(lastServed) }) {
            for card in window.phase.rateCards {
                lines += try endingLines(subscription, card, window, billDate, lastServed: lastServed, serviceEnd: serviceEnd)
            }
        }
        return lines
    }

    // MARK: Periods starting at the bill date

    func startingLines(_ subscription: Subscription, _ card: RateCard, _ window: Subscription.PhaseWindow,
                       _ billDate: Instant) -> [InvoiceLine] {
        guard case .flat(let amount, .inAdvance)? = card.price, amount != 0 else { return [] }
        let fee = discounted(amount, card)
        guard let cadence = card.billingCadence else {
            // One-time fee in advance: the first invoice of the window; a change bills none.
            guard billDate == window.start, subscription.origin == .new else { return [] }
            let period = cardPeriod(cadence: subscription.plan.billingCadence, window: window, containing: billDate)
            return [feeLine(.fee, subscription, card, period.billed, amount: fee.rounded(scale: scale(subscription)),
                            detail: "one-time fee \(money(fee, subscription))")]
        }
        let period = cardPeriod(cadence: cadence, window: window, containing: billDate)
        guard period.billed.start == billDate, !isChargedAsProration(subscription, period) else { return [] }
        return [proratedFee(.fee, subscription, card, fee, period)]
    }

    /// A change successor's first, cut period is charged at its end as `proration_charge`.
    func isChargedAsProration(_ subscription: Subscription, _ period: CardPeriod) -> Bool {
        guard case .change = subscription.origin else { return false }
        return period.billed.start == subscription.start && period.billed.start != period.whole.start
    }

    // MARK: Periods ending at the bill date

    func endingLines(_ subscription: Subscription, _ card: RateCard, _ window: Subscription.PhaseWindow,
                     _ billDate: Instant, lastServed: Instant, serviceEnd: Instant?) throws -> [InvoiceLine] {
        guard let price = card.price, !price.isFree else { return [] }
        guard let cadence = card.billingCadence else {
            guard case .flat(let amount, .inArrears) = price, subscription.origin == .new else { return [] }
            // One-time fee in arrears: the window's last invoice.
            let phaseEndsFirst = window.end.map { phaseEnd in serviceEnd.map { $0 >= phaseEnd } ?? true } ?? false
            let lastBillDate = phaseEndsFirst ? window.end : subscription.finalBillDate
            guard lastBillDate == billDate else { return [] }
            let fee = discounted(amount, card)
            let period = Period(start: window.start, end: max(window.start, min(billDate, serviceEnd ?? billDate)))
            return [feeLine(.fee, subscription, card, period, amount: fee.rounded(scale: scale(subscription)),
                            detail: "one-time fee \(money(fee, subscription))")]
        }
        let period = cardPeriod(cadence: cadence, window: window, containing: lastServed)
        guard period.billed.end == billDate else { return [] }
        let served = Period(start: period.billed.start, end: min(period.billed.end, serviceEnd ?? period.billed.end))
        switch price {
        case .flat(let amount, .inAdvance):
            let fee = discounted(amount, card)
            var lines: [InvoiceLine] = []
            if isChargedAsProration(subscription, period) {
                lines.append(proratedFee(.prorationCharge, subscription, card, fee, period))
            }
            if let end = serviceEnd, end < period.billed.end,
               let credit = try prorationCredit(subscription, card, window, fee, period, end: end) {
                lines.append(credit)
            }
            return lines
        case .flat(let amount, .inArrears):
            let fee = discounted(amount, card)
            return [proratedFee(.fee, subscription, card, fee, CardPeriod(whole: period.whole, billed: served))]
        case .unit, .tiered, .package, .dynamic:
            return try usageLines(subscription, card, price, whole: period.whole, served: served)
        }
    }

    // MARK: Fees

    /// A flat fee with a percentage discount is billed at the discounted price, unrounded, so
    /// fees, proration charges and credits all follow from one price.
    func discounted(_ amount: Decimal, _ card: RateCard) -> Decimal {
        guard let percentage = card.discounts.percentage, percentage != 0 else { return amount }
        return amount * (100 - percentage) / 100
    }

    func proratedFee(_ kind: LineKind, _ subscription: Subscription, _ card: RateCard, _ fee: Decimal,
                     _ period: CardPeriod) -> InvoiceLine {
        let prorate = subscription.plan.proRating.enabled && period.billed != period.whole
        let amount = prorate ? period.billedFraction.apply(fee) : fee
        let detail = prorate ? "\(money(fee, subscription)) x \(period.billedFraction)"
                             : money(fee, subscription)
        return feeLine(kind, subscription, card, period.billed, amount: amount.rounded(scale: scale(subscription)), detail: detail)
    }

    func feeLine(_ kind: LineKind, _ subscription: Subscription, _ card: RateCard, _ period: Period,
                 amount: Decimal, detail: String) -> InvoiceLine {
        let label: String
        switch kind {
        case .prorationCharge: label = "\(card.name), rest of the period after the plan change"
        case .prorationCredit: label = "Unused \(card.name)"
        case .fee, .usage, .lateUsage, .discount, .commitment, .adjustment: label = card.name
        }
        let discount = card.discounts.percentage.map { $0 != 0 ? " less \($0.plainString)%" : "" } ?? ""
        return InvoiceLine(kind: kind, subscriptionId: subscription.id, rateCardKey: card.key, featureKey: card.featureKey,
                           description: label, period: period, quantity: nil, amount: amount,
                           taxBehavior: card.taxConfig.behavior, taxCode: card.taxConfig.stripeCode,
                           detail: detail + discount)
    }

    /// The unused part of an in-advance fee when service ends inside a billed period:
    /// fee x (billed end fraction - consumed), consumed being the time elapsed since the
    /// period's start or, under `max_consumption_based`, the larger of that and the share of
    /// the metered quota used. Exact until the one rounding.
    func prorationCredit(_ subscription: Subscription, _ card: RateCard, _ window: Subscription.PhaseWindow,
                         _ fee: Decimal, _ period: CardPeriod, end: Instant) throws -> InvoiceLine? {
        let plan = subscription.plan
        guard plan.proRating.enabled else { return nil }
        var consumed = Fraction(TimeFraction(part: end - period.whole.start, whole: period.whole.seconds))
        var consumedText = "\(TimeFraction(part: end - period.whole.start, whole: period.whole.seconds)) elapsed"
        if plan.proRating.mode == .maxConsumptionBased {
            let since = Period(start: max(period.whole.start, subscription.start), end: end)
            for other in window.phase.rateCards {
                guard let quota = other.meteredEntitlement?.issueAfterReset, let meter = catalog.meter(for: other) else { continue }
                let used = try quantity(meter, subscription, since)
                // A zero quota has no share used; it cannot tell how much of the fee was consumed.
                guard let share = Fraction(min(used, quota), over: quota), share > consumed else { continue }
                consumed = share
                consumedText = "\(PriceText.grouped(min(used, quota)))/\(PriceText.grouped(quota)) of the \(other.name) quota used"
            }
        }
        // unused = (billed end - whole start) / whole - consumed, over one common denominator.
        let whole = Decimal(period.whole.seconds)
        let unusedNumerator = Decimal(period.billed.end - period.whole.start) * consumed.denominator - consumed.numerator * whole
        guard unusedNumerator > 0 else { return nil }
        let amount = (fee * unusedNumerator / (whole * consumed.denominator)).rounded(scale: scale(subscription))
        guard amount != 0 else { return nil }
        return feeLine(.prorationCredit, subscription, card, Period(start: end, end: period.billed.end), amount: -amount,
                       detail: "-\(money(fee, subscription)) x (\(TimeFraction(part: period.billed.end - period.whole.start, whole: period.whole.seconds)) - \(consumedText))")
    }

    // MARK: Usage

    func usageLines(_ subscription: Subscription, _ card: RateCard, _ price: Price, whole: Period, served: Period) throws -> [InvoiceLine] {
        guard let charge = try usageCharge(subscription, card, price, whole: whole, served: served) else { return [] }
        var lines = [InvoiceLine(kind: .usage, subscriptionId: subscription.id, rateCardKey: card.key, featureKey: card.featureKey,
                                 description: card.name, period: served, quantity: charge.quantity, amount: charge.charge.usage,
                                 taxBehavior: card.taxConfig.behavior, taxCode: card.taxConfig.stripeCode,
                                 detail: charge.charge.explanation.summary)]
        if charge.charge.discount != 0 {
            lines.append(InvoiceLine(kind: .discount, subscriptionId: subscription.id, rateCardKey: card.key,
                                     featureKey: card.featureKey, description: "\(card.name) discount", period: served,
                                     amount: charge.charge.discount, taxBehavior: card.taxConfig.behavior,
                                     taxCode: card.taxConfig.stripeCode,
                                     detail: "\(card.discounts.percentage?.plainString ?? "0")% of \(money(charge.charge.usage, subscription))"))
        }
        if charge.charge.commitment != 0 {
            lines.append(InvoiceLine(kind: .commitment, subscriptionId: subscription.id, rateCardKey: card.key,
                                     featureKey: card.featureKey,
                                     description: charge.charge.commitment > 0 ? "\(card.name) minimum commitment" : "\(card.name) maximum cap",
                                     period: served, amount: charge.charge.commitment, taxBehavior: card.taxConfig.behavior,
                                     taxCode: card.taxConfig.stripeCode,
                                     detail: charge.charge.explanation.commitmentSummary(for: charge.charge.commitment) ?? ""))
        }
        return lines
    }

    func usageCharge(_ subscription: Subscription, _ card: RateCard, _ price: Price, whole: Period,
                     served: Period) throws -> (quantity: Decimal, charge: UsageCharge)? {
        guard !served.isEmpty else { return nil }
        let used = try catalog.meter(for: card).map { try quantity($0, subscription, served) } ?? 0
        let charge = UsageRater.rate(price: price, discounts: card.discounts, quantity: used,
                                     fraction: TimeFraction(part: served.seconds, whole: whole.seconds),
                                     currency: subscription.plan.currency)
        return (used, charge)
    }

    func quantity(_ meter: Meter, _ subscription: Subscription, _ period: Period) throws -> Decimal {
        let value = try usage.quantity(meter: meter, subscriptionId: subscription.id, period: period)
        return meter.aggregation == .avg ? value.rounded(scale: Aggregator.averageScale) : value
    }

    /// The whole charge (usage, discount and commitment) of a usage rate card for the period
    /// starting at `key.periodStart`, recomputed from the usage known now: what late usage
    /// is measured against. nil when the subscription has no such period.
    public func recomputedCharge(_ key: ChargeKey, subscription: Subscription) throws -> (period: Period, total: Decimal, card: RateCard)? {
        guard key.subscriptionId == subscription.id,
              let window = subscription.phaseWindows.last(where: { $0.contains(key.periodStart) }),
              let card = window.phase.rateCards.first(where: { $0.key == key.rateCardKey }),
              let price = card.price, let cadence = card.billingCadence else { return nil }
        switch price {
        case .flat: return nil
        case .unit, .tiered, .package, .dynamic: break
        }
        let period = cardPeriod(cadence: cadence, window: window, containing: key.periodStart)
        guard period.billed.start == key.periodStart else { return nil }
        let end = subscription.serviceEnd ?? period.billed.end
        let served = Period(start: period.billed.start, end: max(period.billed.start, min(period.billed.end, end)))
        guard let charge = try usageCharge(subscription, card, price, whole: period.whole, served: served) else { return nil }
        return (period.billed, charge.charge.total, card)
    }

    // MARK: Text

    func scale(_ subscription: Subscription) -> Int { subscription.plan.currency.billingScale }

    func money(_ amount: Decimal, _ subscription: Subscription) -> String {
        let currency = subscription.plan.currency
        // Unrounded prices keep their digits; whole amounts show the currency's decimals.
        let rounded = amount.rounded(scale: currency.minorUnits)
        return rounded == amount ? Money(amount, currency).formatted : amount.plainString
    }
}

extension SubscriptionBiller {
    /// The usage charges a window of late events of `meterSlug` belongs to: one per usage rate
    /// card of the phase metering it, keyed by the card's period start.
    public func chargeKeys(subscription: Subscription, meterSlug: String, windowStart: Instant) -> [(key: ChargeKey, period: Period)] {
        guard let window = subscription.phaseWindows.last(where: { $0.contains(windowStart) }) else { return [] }
        return window.phase.rateCards.compactMap { card in
            guard let cadence = card.billingCadence, let price = card.price, catalog.meter(for: card)?.slug == meterSlug else { return nil }
            switch price {
            case .flat: return nil
            case .unit, .tiered, .package, .dynamic:
                let period = cardPeriod(cadence: cadence, window: window, containing: windowStart)
                return (ChargeKey(subscriptionId: subscription.id, rateCardKey: card.key, periodStart: period.billed.start), period.billed)
            }
        }
    }
}
