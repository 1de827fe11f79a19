import BillingStore

/// `GET …/subscription`: the user's subscription as the store has it, shaped for the SaaS's front end.
struct SubscriptionController: Sendable {
    let store: any BillingStore
    let settings: Settings

    /// The body of §7's table: `status` (Stripe's, or `none`), `active`, `plan`, `price_id`,
    /// `current_period_end`, `cancel_at_period_end`; several subscriptions: the entitled one, else the latest.
    func status(of userID: String) async throws(CheckoutError) -> JSONValue {
        let subscriptions = try await state { () async throws(StoreError) in
            try await store.subscriptions(forUser: userID)
        }
        let chosen =
            subscriptions.first { settings.loop.entitledStatuses.contains($0.status) } ?? subscriptions.first
        let active = chosen.map { settings.loop.entitledStatuses.contains($0.status) } ?? false
        let plan = chosen?.priceID.flatMap { settings.stripe.planPrices.plan(forPrice: $0) }
        return .object(
            JSONObject([
                ("status", .string(chosen?.status ?? "none")),
                ("active", .bool(active)),
                ("plan", plan.map(JSONValue.string) ?? .null),
                ("price_id", chosen?.priceID.map(JSONValue.string) ?? .null),
                ("current_period_end", chosen?.currentPeriodEnd.map { .integer(String($0)) } ?? .null),
                ("cancel_at_period_end", .bool(chosen?.cancelAtPeriodEnd ?? false)),
            ]))
    }
}
