import Foundation

/// A Stripe-shaped refusal, thrown by the state's operations and answered as is.
struct Refusal: Error, Sendable {
    /// The answer.
    let response: StandInResponse

    /// Stripe's 404 for an unknown object: `No such checkout.session: 'cs_x'`.
    static func noSuch(_ object: String, _ id: String, param: String, status: Int = 404) -> Refusal {
        Refusal(
            response: .stripeError(
                status, type: "invalid_request_error", code: "resource_missing", message: "No such \(object): '\(id)'",
                param: param))
    }

    /// A 400 `invalid_request_error` with no code.
    static func invalid(_ message: String, param: String? = nil) -> Refusal {
        Refusal(response: .stripeError(400, type: "invalid_request_error", code: nil, message: message, param: param))
    }
}

/// What a subscription update asks for; `nil` members stay as they are.
struct SubscriptionChange: Sendable {
    var status: String?
    var cancelAtPeriodEnd: Bool?
    var price: String?
}

/// The billing objects (customers, Checkout Sessions, subscriptions, portal sessions) and the events they produced.
///
/// Every operation runs inside the `StandIn` actor, so each one is atomic; events carry a snapshot of the object at
/// the moment they were produced.
struct BillingState: Sendable {

    /// Whether an unknown `cus_…` id is refused (Stripe's behaviour) rather than adopted as a new customer.
    var strictCustomers: Bool
    /// Whether the billing portal has a default configuration.
    var portalConfigured: Bool

    private var customers: [String: CustomerRecord] = [:]
    private var sessions: [String: CheckoutSessionRecord] = [:]
    private var subscriptions: [String: SubscriptionRecord] = [:]
    /// Subscription ids, oldest first.
    private var subscriptionOrder: [String] = []
    private(set) var events: [EventRecord] = []
    private var eventPositions: [String: Int] = [:]

    /// Seconds in a day.
    static let day = 86_400
    /// The length of a billing period the stand-in gives, and of a trial when the session names none.
    static let periodDays = 30

    /// Creates empty state with the given switches.
    init(strictCustomers: Bool, portalConfigured: Bool) {
        self.strictCustomers = strictCustomers
        self.portalConfigured = portalConfigured
    }

    // MARK: Customers

    /// Creates a customer and returns it.
    mutating func createCustomer(email: String?, name: String?, description: String?, metadata: JSON)
        -> CustomerRecord
    {
        let record = CustomerRecord(
            id: StripeIdentifier.make("cus_", length: 14), created: unixNow(), email: email, name: name,
            description: description, metadata: metadata)
        customers[record.id] = record
        return record
    }

    /// The customer with `id`, if known.
    func customer(_ id: String) -> CustomerRecord? {
        customers[id]
    }

    /// Succeeds for a known customer; an unknown `cus_…` id is adopted as a new customer unless customers are
    /// strict; anything else is Stripe's 400 `No such customer: 'x'` for `param`.
    mutating func resolveCustomer(_ id: String, param: String) throws(Refusal) {
        if customers[id] != nil { return }
        guard !strictCustomers, id.hasPrefix("cus_") else {
            throw Refusal.noSuch("customer", id, param: param, status: 400)
        }
        customers[id] = CustomerRecord(
            id: id, created: unixNow(), email: nil, name: nil, description: nil, metadata: .object([]))
    }

    // MARK: Checkout Sessions

    /// Stores a newly created session.
    mutating func addSession(_ record: CheckoutSessionRecord) {
        sessions[record.id] = record
    }

    /// The session with `id`, if known.
    func session(_ id: String) -> CheckoutSessionRecord? {
        sessions[id]
    }

    /// Expires an open session and produces `checkout.session.expired`; any other status is Stripe's 400.
    mutating func expireSession(_ id: String, request: EventRequest?) throws(Refusal)
        -> (CheckoutSessionRecord, EventRecord)
    {
        guard var session = sessions[id] else { throw Refusal.noSuch("checkout.session", id, param: "session") }
        guard session.status == "open" else {
            throw Refusal.invalid(
                "Only Checkout Sessions with a status in [\"open\"] can be expired. "
                    + "This Checkout Session has a status of `\(session.status)`.")
        }
        session.status = "expired"
        sessions[id] = session
        let event = emit("checkout.session.expired", session.json(), request: request)
        return (session, event)
    }

    /// Completes an open session as a customer paying at Checkout would, and returns the events in Stripe's usual
    /// order: `checkout.session.completed`, then for a subscription `customer.subscription.created` (as
    /// `incomplete`), `customer.subscription.updated` (to `status`) and `invoice.paid`; the last two are left out
    /// when `status` is `incomplete`.
    mutating func completeSession(_ id: String, subscriptionStatus status: String) throws(Refusal) -> [EventRecord] {
        guard var session = sessions[id] else { throw Refusal.noSuch("checkout.session", id, param: "session") }
        guard session.status == "open" else {
            throw Refusal.invalid(
                "Only Checkout Sessions with a status of `open` can be completed. "
                    + "This Checkout Session has a status of `\(session.status)`.")
        }
        guard ["active", "trialing", "incomplete"].contains(status) else {
            throw Refusal.invalid(
                "subscription_status must be one of active, trialing, incomplete", param: "subscription_status")
        }
        let now = unixNow()
        let customerID: String
        if let existing = session.customer {
            customerID = existing
        } else {
            var metadata: [(String, JSON)] = []
            if let userID = session.metadata["user_id"] { metadata.append(("user_id", userID)) }
            customerID =
                createCustomer(
                    email: session.customerEmail, name: nil, description: nil, metadata: .object(metadata)
                ).id
        }
        session.customer = customerID
        session.status = "complete"
        guard session.mode == "subscription", let price = session.price else {
            session.paymentStatus = session.mode == "setup" ? "no_payment_required" : "paid"
            sessions[id] = session
            return [emit("checkout.session.completed", session.json(), request: nil)]
        }
        let trialEnd = status == "trialing" ? now + (session.trialPeriodDays ?? Self.periodDays) * Self.day : nil
        var subscription = SubscriptionRecord(
            id: StripeIdentifier.make("sub_"), created: now, customer: customerID, status: "incomplete",
            itemID: StripeIdentifier.make("si_", length: 14), price: price, currentPeriodStart: now,
            currentPeriodEnd: trialEnd ?? now + Self.periodDays * Self.day, trialEnd: trialEnd,
            metadata: session.subscriptionMetadata)
        let incomplete = subscription
        subscription.status = status
        store(subscription)
        session.subscription = subscription.id
        session.paymentStatus = ["active": "paid", "trialing": "no_payment_required"][status] ?? "unpaid"
        sessions[id] = session
        var produced = [
            emit("checkout.session.completed", session.json(), request: nil),
            emit("customer.subscription.created", incomplete.json, request: nil),
        ]
        if status != "incomplete" {
            produced.append(
                emit(
                    "customer.subscription.updated", subscription.json,
                    previous: Self.previousAttributes(incomplete.json, subscription.json), request: nil))
            produced.append(emit("invoice.paid", invoice(for: subscription, status: "paid").json, request: nil))
        }
        return produced
    }

    // MARK: Subscriptions

    /// The subscription with `id`, if known.
    func subscription(_ id: String) -> SubscriptionRecord? {
        subscriptions[id]
    }

    /// Subscriptions newest first, filtered like `GET /v1/subscriptions`: `status` `all`, `ended` (canceled and
    /// incomplete_expired), one status, or `nil` for every one not canceled.
    func subscriptions(customer: String?, status: String?, price: String?) -> [SubscriptionRecord] {
        subscriptionOrder.reversed().compactMap { subscriptions[$0] }.filter { record in
            if let customer, record.customer != customer { return false }
            if let price, record.price != price { return false }
            switch status {
            case nil: return record.status != "canceled"
            case "all": return true
            case "ended": return ["canceled", "incomplete_expired"].contains(record.status)
            case let wanted?: return record.status == wanted
            }
        }
    }

    /// Whether a customer with `id` is known.
    func hasCustomer(_ id: String) -> Bool {
        customers[id] != nil
    }

    /// Applies `change` as Stripe would and returns the events: `customer.subscription.updated` (with
    /// `previous_attributes`), or `customer.subscription.deleted` when it becomes `canceled`; `past_due` is
    /// preceded by `invoice.payment_failed`; `paused` is followed by `customer.subscription.paused`, and leaving
    /// `paused` for `active` by `customer.subscription.resumed`.
    mutating func updateSubscription(_ id: String, _ change: SubscriptionChange, prices: Set<String>) throws(Refusal)
        -> [EventRecord]
    {
        guard var subscription = subscriptions[id] else {
            throw Refusal.noSuch("subscription", id, param: "id")
        }
        guard subscription.status != "canceled" else {
            throw Refusal.invalid(
                "A canceled subscription can only update its cancellation_details and metadata.")
        }
        if let status = change.status, !SubscriptionRecord.statuses.contains(status) {
            throw Refusal.invalid(
                "Invalid status: must be one of \(SubscriptionRecord.statuses.sorted().joined(separator: ", "))",
                param: "status")
        }
        if let price = change.price, !prices.contains(price) {
            throw Refusal.noSuch("price", price, param: "price", status: 400)
        }
        let before = subscription
        let now = unixNow()
        if let price = change.price { subscription.price = price }
        if let cancelAtPeriodEnd = change.cancelAtPeriodEnd {
            subscription.cancelAtPeriodEnd = cancelAtPeriodEnd
            subscription.canceledAt = cancelAtPeriodEnd ? now : nil
        }
        if let status = change.status {
            subscription.status = status
            if status == "canceled" {
                subscription.canceledAt = now
                subscription.cancelAtPeriodEnd = false
            }
            if status == "trialing", subscription.trialEnd == nil {
                subscription.trialEnd = subscription.currentPeriodEnd
            }
        }
        store(subscription)
        if subscription.status == "canceled" {
            return [emit("customer.subscription.deleted", subscription.json, request: nil)]
        }
        var produced: [EventRecord] = []
        if subscription.status == "past_due", before.status != "past_due" {
            produced.append(
                emit("invoice.payment_failed", invoice(for: subscription, status: "open").json, request: nil))
        }
        produced.append(
            emit(
                "customer.subscription.updated", subscription.json,
                previous: Self.previousAttributes(before.json, subscription.json), request: nil))
        if subscription.status == "paused", before.status != "paused" {
            produced.append(emit("customer.subscription.paused", subscription.json, request: nil))
        }
        if before.status == "paused", subscription.status == "active" {
            produced.append(emit("customer.subscription.resumed", subscription.json, request: nil))
        }
        return produced
    }

    /// Stores `record`, keeping the creation order.
    private mutating func store(_ record: SubscriptionRecord) {
        if subscriptions[record.id] == nil { subscriptionOrder.append(record.id) }
        subscriptions[record.id] = record
    }

    /// Makes an invoice for the subscription's current period.
    private func invoice(for subscription: SubscriptionRecord, status: String) -> InvoiceRecord {
        InvoiceRecord(
            id: StripeIdentifier.make("in_"), created: unixNow(), customer: subscription.customer,
            subscription: subscription.id, status: status)
    }

    // MARK: Events

    /// Produces an event with a snapshot of `object`, serialized once, and keeps it.
    @discardableResult
    mutating func emit(_ type: String, _ object: JSON, previous: JSON? = nil, request: EventRequest?)
        -> EventRecord
    {
        let event = EventRecord.make(type: type, object: object, previousAttributes: previous, request: request)
        eventPositions[event.id] = events.count
        events.append(event)
        return event
    }

    /// The event with `id`, if produced.
    func event(_ id: String) -> EventRecord? {
        eventPositions[id].map { events[$0] }
    }

    /// The members of `old` whose values differ in `new`, as Stripe's `previous_attributes`.
    static func previousAttributes(_ old: JSON, _ new: JSON) -> JSON {
        guard case .object(let members) = old else { return .object([]) }
        return .object(members.filter { key, value in new[key] != value })
    }
}
