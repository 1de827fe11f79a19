import Foundation

/// Serves `/v1/customers`: create and retrieve.
struct CustomerRoutes: Sendable {

    /// The shared stand-in state.
    let standIn: StandIn

    /// `POST /v1/customers` with `email`, `name`, `description`, `metadata[...]`.
    func create(_ call: APICall) async -> StandInResponse {
        if let error = Parameters.unknown(
            in: call.params, known: ["email", "name", "description", "metadata", "expand"])
        {
            return error
        }
        let form = call.form
        let email = form["email"]
        if let email, !email.isEmpty, !email.contains("@") {
            return .invalidRequest(code: "email_invalid", message: "Invalid email address: \(email)", param: "email")
        }
        let metadata = Parameters.metadata(call.params)
        let (name, description) = (form["name"], form["description"])
        let customer = await standIn.withBilling { state in
            state.createCustomer(
                email: email.flatMap { $0.isEmpty ? nil : $0 }, name: name, description: description,
                metadata: metadata)
        }
        return .json(200, customer.json)
    }

    /// `GET /v1/customers/{id}`.
    func retrieve(_ call: APICall) async -> StandInResponse {
        if let error = Parameters.unknown(in: call.params, known: ["expand"]) { return error }
        let id = call.segment(2)
        guard let customer = await standIn.withBilling({ $0.customer(id) }) else {
            return Refusal.noSuch("customer", id, param: "id").response
        }
        return .json(200, customer.json)
    }
}

/// Serves `/v1/subscriptions`: retrieve and list.
struct SubscriptionRoutes: Sendable {

    /// The shared stand-in state.
    let standIn: StandIn

    /// The `status` values a list may filter by.
    static let listStatuses = SubscriptionRecord.statuses.union(["all", "ended"])

    /// `GET /v1/subscriptions/{id}`.
    func retrieve(_ call: APICall) async -> StandInResponse {
        if let error = Parameters.unknown(in: call.params, known: []) { return error }
        let id = call.segment(2)
        guard let subscription = await standIn.withBilling({ $0.subscription(id) }) else {
            return Refusal.noSuch("subscription", id, param: "id").response
        }
        return .json(200, subscription.json)
    }

    /// `GET /v1/subscriptions?customer=&status=&price=&limit=`: newest first, `limit` 1...100 (default 10).
    func list(_ call: APICall) async -> StandInResponse {
        if let error = Parameters.unknown(in: call.params, known: ["customer", "status", "price", "limit"]) {
            return error
        }
        let form = call.form
        var limit = 10
        if let text = form["limit"] {
            guard let number = Int(text) else {
                return .invalidRequest(
                    code: "parameter_invalid_integer", message: "Invalid integer: \(text)", param: "limit")
            }
            guard (1...100).contains(number) else {
                return .invalidRequest(
                    code: "parameter_invalid_integer",
                    message: number < 1
                        ? "This value must be greater than or equal to 1."
                        : "This value must be less than or equal to 100.",
                    param: "limit")
            }
            limit = number
        }
        let status = form["status"]
        if let status, !Self.listStatuses.contains(status) {
            return .invalidRequest(
                code: "parameter_invalid",
                message: "Invalid status: must be one of \(Self.listStatuses.sorted().joined(separator: ", "))",
                param: "status")
        }
        let customer = form["customer"], price = form["price"]
        let found: [SubscriptionRecord]
        do {
            found = try await standIn.withBilling { (state) throws(Refusal) in
                if let customer, !state.hasCustomer(customer),
                    state.strictCustomers || !customer.hasPrefix("cus_")
                {
                    throw Refusal.noSuch("customer", customer, param: "customer", status: 400)
                }
                return state.subscriptions(customer: customer, status: status, price: price)
            }
        } catch {
            return error.response
        }
        return .json(
            200, .list(found.prefix(limit).map(\.json), hasMore: found.count > limit, url: "/v1/subscriptions"))
    }
}

/// Serves `POST /v1/billing_portal/sessions`.
struct BillingPortalRoute: Sendable {

    /// The shared stand-in state.
    let standIn: StandIn

    /// Stripe's answer when no portal configuration was given and test mode has no default one.
    static let notConfiguredMessage =
        "No configuration provided and your test mode default configuration has not been created. "
        + "Provide a configuration or create your default by saving your customer portal settings in test mode at "
        + "https://dashboard.stripe.com/test/settings/billing/portal."

    /// Creates a portal session for a known `customer`, with an optional `return_url`.
    func create(_ call: APICall) async -> StandInResponse {
        if let error = Parameters.unknown(
            in: call.params, known: ["customer", "return_url", "configuration", "locale", "expand"])
        {
            return error
        }
        let form = call.form
        guard let customer = form["customer"] else { return CheckoutSessionValidator.missing("customer") }
        if customer.isEmpty { return CheckoutSessionValidator.empty("customer") }
        let returnURL = form["return_url"]
        if let returnURL {
            if returnURL.isEmpty { return CheckoutSessionValidator.empty("return_url") }
            if let error = CheckoutSessionValidator.urlError(returnURL, param: "return_url") { return error }
        }
        let configuration = form["configuration"]
        let record = PortalSessionRecord(
            id: StripeIdentifier.make("bps_"), created: unixNow(), customer: customer, returnURL: returnURL,
            url: "https://billing.stripe.com/p/session/test_\(StripeIdentifier.make("", length: 40))")
        do {
            try await standIn.withBilling { (state) throws(Refusal) in
                try state.resolveCustomer(customer, param: "customer")
                if configuration == nil, !state.portalConfigured {
                    throw Refusal.invalid(Self.notConfiguredMessage)
                }
            }
        } catch {
            return error.response
        }
        var json = record.json
        if call.omitURL, case .object(let members) = json { json = .object(members.filter { $0.0 != "url" }) }
        return .json(200, json)
    }
}
