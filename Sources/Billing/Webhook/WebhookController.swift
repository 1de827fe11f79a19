import BillingStore
import Foundation
import HTTPResponder
import HTTPTypes

/// `POST …/webhook`: verifies Stripe's signature on the raw body, applies each event once, answers 200
/// `{"received":true}`; 400 for a signature that does not verify; 5xx when the event could not be applied, so
/// that Stripe delivers it again.
struct WebhookController: Sendable {
    let signature: WebhookSignature
    let store: any BillingStore
    let stripe: any StripeClient
    let now: @Sendable () -> Double

    /// Verifies, reads and applies one delivery.
    func receive(body: [UInt8], headers: HTTPFields, trace: inout CheckoutController.Trace) async throws(CheckoutError)
        -> Response
    {
        try signature.verify(payload: body, header: headers[.stripeSignature], now: now())
        guard let event = WebhookEvent(body: body) else {
            throw .invalidSignature(reason: "the signed body is not a Stripe event")
        }
        trace.eventID = event.id
        trace.eventType = event.type
        if try await state({ () async throws(StoreError) in try await store.isProcessed(eventID: event.id) }) {
            trace.eventOutcome = "duplicate"
            return Self.received
        }
        let change = try await change(for: EventPlan.plan(for: event))
        let applied = try await state { () async throws(StoreError) in
            try await store.apply(change, eventID: event.id, eventType: event.type, now: now())
        }
        trace.eventOutcome = applied ? "applied" : "duplicate"
        return Self.received
    }

    static let received = Response.json(.ok, .object(JSONObject([("received", .bool(true))])))

    /// The state change for a plan; subscription events re-read the subscription from Stripe, so a late or
    /// repeated event can never roll the state back.
    func change(for plan: EventPlan) async throws(CheckoutError) -> StateChange {
        switch plan {
        case .ignore:
            return StateChange()
        case .checkoutExpired(let sessionID):
            return StateChange(closedSessionID: sessionID)
        case .checkoutCompleted(let sessionID, let userID, let customerID, let subscriptionID):
            var change = StateChange(closedSessionID: sessionID)
            if let userID, let customerID { change.customerLink = (userID, customerID) }
            if let subscriptionID {
                change.subscription = try await record(subscriptionID, fallbackUser: userID)
            }
            return change
        case .subscriptionChanged(let subscriptionID):
            return StateChange(subscription: try await record(subscriptionID, fallbackUser: nil))
        }
    }

    /// The subscription as Stripe has it now, attributed to its user: `metadata.user_id`, else the user linked
    /// to its customer; nil when no user is known yet (the checkout's completion will read it again).
    private func record(_ id: String, fallbackUser: String?) async throws(CheckoutError) -> SubscriptionRecord? {
        let subscription = try await stripe.subscription(id: id)
        let fetchedAt = now()
        var userID = subscription.userID ?? fallbackUser
        if userID == nil, let customer = subscription.customerID {
            userID = try await state { () async throws(StoreError) in try await store.user(forCustomer: customer) }
        }
        guard let userID else { return nil }
        return SubscriptionRecord(
            id: subscription.id, userID: userID, customerID: subscription.customerID, status: subscription.status,
            priceID: subscription.priceID, currentPeriodEnd: subscription.currentPeriodEnd,
            cancelAtPeriodEnd: subscription.cancelAtPeriodEnd, created: subscription.created, fetchedAt: fetchedAt)
    }
}

/// Runs a store call, turning its failure into the contract's 503.
func state<T>(_ body: () async throws(StoreError) -> T) async throws(CheckoutError) -> T {
    do {
        return try await body()
    } catch {
        throw .stateUnavailable(retryAfter: 1, reason: "billing state: \(error.reason)")
    }
}

extension HTTPField.Name {
    /// `Stripe-Signature`, on every webhook delivery.
    static let stripeSignature = HTTPField.Name("Stripe-Signature")!
}
