import FlyingFox
import Foundation

/// The controls that make things happen on Stripe's side (a customer paying at Checkout, a session running out, a
/// subscription changing) and deliver the events that follow. Each answers what it produced:
/// `{"events":[{id,type,body,signature}],"deliveries":[{event,type,signature,delivered,status,error?}]}`.
struct SimulationRoutes: Sendable {

    /// The shared stand-in state.
    let standIn: StandIn

    /// `POST /_standin/checkout/sessions/{id}/complete {"subscription_status"?, "deliver"?}`.
    func complete(_ request: HTTPRequest) async throws -> StandInResponse {
        let id = Self.segment(request, 3)
        return await run(request, keys: ["subscription_status", "deliver"]) { body throws(ControlError) in
            let status = try body.string("subscription_status") ?? "active"
            return { (state: inout BillingState) throws(Refusal) in
                try state.completeSession(id, subscriptionStatus: status)
            }
        }
    }

    /// `POST /_standin/checkout/sessions/{id}/expire {"deliver"?}`: the session runs out (`checkout.session.expired`).
    func expire(_ request: HTTPRequest) async throws -> StandInResponse {
        let id = Self.segment(request, 3)
        return await run(request, keys: ["deliver"]) { _ throws(ControlError) in
            { (state: inout BillingState) throws(Refusal) in [try state.expireSession(id, request: nil).1] }
        }
    }

    /// `POST /_standin/subscriptions/{id}/update {"status"?, "cancel_at_period_end"?, "price"?, "deliver"?}`.
    func update(_ request: HTTPRequest) async throws -> StandInResponse {
        let id = Self.segment(request, 2)
        let prices = standIn.prices
        return await run(request, keys: ["status", "cancel_at_period_end", "price", "deliver"]) {
            body throws(ControlError) in
            let change = SubscriptionChange(
                status: try body.string("status"), cancelAtPeriodEnd: try body.bool("cancel_at_period_end"),
                price: try body.string("price"))
            return { (state: inout BillingState) throws(Refusal) in
                try state.updateSubscription(id, change, prices: prices)
            }
        }
    }

    /// `POST /_standin/events/{id}/deliver {"deliver"?}`: delivers an event already produced again, freshly signed.
    func redeliver(_ request: HTTPRequest) async throws -> StandInResponse {
        let id = Self.segment(request, 2)
        return await run(request, keys: ["deliver"]) { _ throws(ControlError) in
            { (state: inout BillingState) throws(Refusal) in
                guard let event = state.event(id) else { throw Refusal.noSuch("event", id, param: "id") }
                return [event]
            }
        }
    }

    /// The shared steps: parse the body (allowing `keys`), read `deliver`, apply the change to the state, then
    /// deliver its events and answer them.
    private func run(
        _ request: HTTPRequest, keys: Set<String>,
        _ prepare: (ControlBody) throws(ControlError) -> @Sendable (inout BillingState) throws(Refusal) -> [EventRecord]
    ) async -> StandInResponse {
        let options: DeliverOptions
        let change: @Sendable (inout BillingState) throws(Refusal) -> [EventRecord]
        do {
            let body = try ControlBody.parse((try? await request.bodyData) ?? Data())
            try body.allow(keys)
            options = try DeliverOptions(try body.object("deliver"))
            change = try prepare(body)
        } catch {
            return error.response
        }
        let events: [EventRecord]
        do {
            events = try await standIn.withBilling(change)
        } catch {
            return error.response
        }
        return .json(200, await WebhookDispatcher(standIn: standIn).deliver(events, options: options))
    }

    /// The percent-decoded path segment at `index`.
    private static func segment(_ request: HTTPRequest, _ index: Int) -> String {
        let segments = request.path.split(separator: "/", omittingEmptySubsequences: true)
        guard segments.indices.contains(index) else { return "" }
        return String(segments[index]).removingPercentEncoding ?? String(segments[index])
    }
}
