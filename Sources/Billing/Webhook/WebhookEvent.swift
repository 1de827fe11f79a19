/// A Stripe event, as much of it as the billing state uses; read from the verified body.
struct WebhookEvent: Sendable, Equatable {
    /// Stripe's id (`evt_…`): the unit of "applied once".
    var id: String
    /// `checkout.session.completed`, `customer.subscription.updated`, …
    var type: String
    /// `data.object`.
    var object: JSONValue

    /// The event in a verified body, or nil when the body is not one.
    init?(body: [UInt8]) {
        guard case .object(let root)? = try? PythonJSON.parse(body), StripeObjects.string(root["object"]) == "event",
            let id = StripeObjects.identifier(root["id"], prefix: "evt_"), case .string(let type)? = root["type"],
            type.utf8.count <= 100, !type.isEmpty,
            type.utf8.allSatisfy({
                ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_")
            }),
            case .object(let data)? = root["data"], let object = data["object"]
        else { return nil }
        self.init(id: id, type: type, object: object)
    }

    init(id: String, type: String, object: JSONValue) {
        self.id = id
        self.type = type
        self.object = object
    }
}

/// What an event means for the state, decided from the event alone: a pure function, tested row by row.
enum EventPlan: Sendable, Equatable {
    /// Nothing to change (an unknown type, a one-off payment's session); the event is still recorded.
    case ignore
    /// A subscription checkout finished: link the user to the customer, read the subscription, close the session.
    case checkoutCompleted(sessionID: String, userID: String?, customerID: String?, subscriptionID: String?)
    /// The session expired unpaid: close it.
    case checkoutExpired(sessionID: String)
    /// Something about a subscription changed: read it from Stripe and store what Stripe says now.
    case subscriptionChanged(subscriptionID: String)

    /// The subscription events that trigger a re-read.
    static let subscriptionEvents: Set<String> = [
        "customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted",
        "customer.subscription.paused", "customer.subscription.resumed", "customer.subscription.trial_will_end",
    ]

    /// The plan for `event`.
    static func plan(for event: WebhookEvent) -> EventPlan {
        guard case .object(let object) = event.object else { return .ignore }
        switch event.type {
        case "checkout.session.completed", "checkout.session.async_payment_succeeded":
            guard StripeObjects.string(object["mode"]) == "subscription",
                let sessionID = StripeObjects.identifier(object["id"], prefix: "cs_")
            else { return .ignore }
            var userID = StripeObjects.string(object["client_reference_id"]).flatMap { $0.isEmpty ? nil : $0 }
            if userID == nil, case .object(let metadata)? = object["metadata"] {
                userID = StripeObjects.string(metadata["user_id"]).flatMap { $0.isEmpty ? nil : $0 }
            }
            return .checkoutCompleted(
                sessionID: sessionID, userID: userID,
                customerID: StripeObjects.identifier(object["customer"], prefix: "cus_"),
                subscriptionID: StripeObjects.identifier(object["subscription"], prefix: "sub_"))
        case "checkout.session.expired":
            guard let sessionID = StripeObjects.identifier(object["id"], prefix: "cs_") else { return .ignore }
            return .checkoutExpired(sessionID: sessionID)
        case _ where subscriptionEvents.contains(event.type):
            guard let id = StripeObjects.identifier(object["id"], prefix: "sub_") else { return .ignore }
            return .subscriptionChanged(subscriptionID: id)
        case "invoice.paid", "invoice.payment_failed", "invoice.payment_succeeded":
            // The invoice's subscription: top level up to API 2025-03, under parent.subscription_details after.
            if let id = StripeObjects.identifier(object["subscription"], prefix: "sub_") {
                return .subscriptionChanged(subscriptionID: id)
            }
            if case .object(let parent)? = object["parent"], case .object(let details)? = parent["subscription_details"],
                let id = StripeObjects.identifier(details["subscription"], prefix: "sub_")
            {
                return .subscriptionChanged(subscriptionID: id)
            }
            return .ignore
        default:
            return .ignore
        }
    }
}
