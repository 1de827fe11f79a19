import FlyingFox
import Foundation

/// Serves `/v1/checkout/sessions`: create, retrieve and expire.
struct CheckoutSessionRoute: Sendable {

    /// The shared stand-in state.
    let standIn: StandIn

    /// `POST /v1/checkout/sessions`: validates the parameters, checks the customer, records and answers the session.
    func create(_ call: APICall) async -> StandInResponse {
        if let error = CheckoutSessionValidator(prices: standIn.prices).firstError(in: call.params) {
            return error
        }
        let form = call.form
        let created = unixNow()
        let id = StripeIdentifier.make("cs_test_", length: 58)
        let record = CheckoutSessionRecord(
            id: id, created: created, expiresAt: created + 86_400, mode: form["mode"], customer: form["customer"],
            customerEmail: form["customer_email"], clientReferenceID: form["client_reference_id"],
            metadata: Parameters.metadata(call.params),
            subscriptionMetadata: Parameters.metadata(call.params, at: ["subscription_data", "metadata"]),
            trialPeriodDays: form["subscription_data[trial_period_days]"].flatMap { Int($0) },
            lineItems: form.lineItemIndices.map { index in
                LineItem(
                    id: StripeIdentifier.make("li_"), price: form["line_items[\(index)][price]"] ?? "",
                    quantity: form["line_items[\(index)][quantity]"].flatMap { Int($0) } ?? 1)
            },
            successURL: form["success_url"], cancelURL: form["cancel_url"])
        do {
            try await standIn.withBilling { (state) throws(Refusal) in
                if let customer = record.customer { try state.resolveCustomer(customer, param: "customer") }
                state.addSession(record)
            }
        } catch {
            return error.response
        }
        return .json(200, record.json(omitURL: call.omitURL))
    }

    /// `GET /v1/checkout/sessions/{id}`, with `expand[]=line_items`.
    func retrieve(_ call: APICall) async -> StandInResponse {
        if let error = Parameters.unknown(in: call.params, known: ["expand"]) { return error }
        var expandLineItems = false
        for pair in call.params {
            guard pair.value == "line_items" else {
                return .stripeError(
                    400, type: "invalid_request_error", code: nil,
                    message: "This property cannot be expanded (\(pair.value)).")
            }
            expandLineItems = true
        }
        let id = call.segment(3)
        guard let session = await standIn.withBilling({ $0.session(id) }) else {
            return Refusal.noSuch("checkout.session", id, param: "session").response
        }
        return .json(200, session.json(omitURL: call.omitURL, lineItems: expandLineItems))
    }

    /// `POST /v1/checkout/sessions/{id}/expire`: an open session becomes `expired` and `checkout.session.expired`
    /// is produced (and delivered in the background when a webhook URL is set); any other status is Stripe's 400.
    func expire(_ call: APICall) async -> StandInResponse {
        if let error = Parameters.unknown(in: call.params, known: ["expand"]) { return error }
        let id = call.segment(3)
        let request = call.eventRequest
        do {
            let (session, event) = try await standIn.withBilling { (state) throws(Refusal) in
                try state.expireSession(id, request: request)
            }
            WebhookDispatcher(standIn: standIn).deliverInBackground([event])
            return .json(200, session.json(omitURL: call.omitURL))
        } catch {
            return error.response
        }
    }
}

/// Checks the `Authorization` header against the configured secret key like Stripe does.
struct APIKeyCheck {
    /// The accepted secret key.
    let secretKey: String

    /// Returns a 401 response unless the header carries the secret key as Bearer or Basic username.
    func error(forAuthorization header: String?) -> StandInResponse? {
        guard let provided = Self.key(fromAuthorization: header), !provided.isEmpty else {
            return .stripeError(
                401, type: "invalid_request_error", code: nil,
                message:
                    "You did not provide an API key. You need to provide your API key in the Authorization header, "
                    + "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').", includeNullCode: true)
        }
        guard provided != secretKey else { return nil }
        return .stripeError(
            401, type: "invalid_request_error", code: nil,
            message:
                "Invalid API Key provided: \(Self.mask(provided))", includeNullCode: true)
    }

    /// Extracts the key from `Bearer KEY` or `Basic base64(KEY:)`.
    static func key(fromAuthorization header: String?) -> String? {
        guard let header else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return nil }
        switch parts[0].lowercased() {
        case "bearer":
            return parts[1].trimmingCharacters(in: .whitespaces)
        case "basic":
            guard let data = Data(base64Encoded: parts[1]), let text = String(data: data, encoding: .utf8) else {
                return nil
            }
            return String(text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)[0])
        default:
            return nil
        }
    }

    /// Masks a key like Stripe: keeps a `sk_test_`-style prefix and the last four characters.
    static func mask(_ key: String) -> String {
        let pieces = key.split(separator: "_", maxSplits: 2, omittingEmptySubsequences: false)
        let prefix = pieces.count == 3 ? "\(pieces[0])_\(pieces[1])_" : ""
        let rest = key.dropFirst(prefix.count)
        guard rest.count > 4 else { return prefix + String(repeating: "*", count: rest.count) }
        return prefix + String(repeating: "*", count: rest.count - 4) + rest.suffix(4)
    }
}
