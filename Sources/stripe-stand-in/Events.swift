import Crypto
import Foundation

/// Who caused an event: the API request's id and idempotency key, or neither (a completed Checkout, a renewal).
struct EventRequest: Sendable {
    let id: String?
    let idempotencyKey: String?

    /// No API request: Stripe itself (or the customer at Checkout) caused the event.
    static let none = EventRequest(id: nil, idempotencyKey: nil)
}

/// One event as produced; its body is serialized once, and every delivery sends exactly these bytes.
struct EventRecord: Sendable {
    let id: String
    let type: String
    let created: Int
    let body: Data

    /// The API version every event is rendered in.
    static let apiVersion = "2024-06-20"

    /// Makes an event with a snapshot of `object` (and, for `*.updated`, the `previous_attributes`).
    static func make(type: String, object: JSON, previousAttributes: JSON?, request: EventRequest?) -> EventRecord {
        let id = StripeIdentifier.make("evt_")
        let created = unixNow()
        var data: [(String, JSON)] = [("object", object)]
        if let previousAttributes { data.append(("previous_attributes", previousAttributes)) }
        let request = request ?? .none
        let event = JSON.object([
            ("id", .string(id)),
            ("object", .string("event")),
            ("api_version", .string(apiVersion)),
            ("created", .number(created)),
            ("data", .object(data)),
            ("livemode", .bool(false)),
            ("pending_webhooks", .number(1)),
            (
                "request",
                .object([("id", .optional(request.id)), ("idempotency_key", .optional(request.idempotencyKey))])
            ),
            ("type", .string(type)),
        ])
        return EventRecord(id: id, type: type, created: created, body: event.encoded)
    }

    /// The body as text, as the control API hands it out.
    var bodyText: String {
        String(decoding: body, as: UTF8.self)
    }
}

/// Where events go and what they are signed with.
struct WebhookSettings: Sendable, Equatable {
    /// The endpoint events are POSTed to; `nil` delivers nothing.
    var url: URL?
    /// The endpoint's signing secret, `whsec_…`.
    var secret: String

    /// Parses an absolute http(s) URL with a host, or returns `nil`.
    static func url(from text: String) -> URL? {
        guard let components = URLComponents(string: text),
            let scheme = components.scheme?.lowercased(), ["http", "https"].contains(scheme),
            let host = components.host, !host.isEmpty
        else { return nil }
        return components.url
    }

    /// The `{"url","secret"}` the control API answers.
    var json: JSON {
        .object([("url", .optional(url?.absoluteString)), ("secret", .string(secret))])
    }
}

/// Stripe's webhook signature: `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, keyed with the secret string's
/// UTF-8 bytes (the whole `whsec_…`, as Stripe's libraries use it).
enum WebhookSignature {

    /// The `Stripe-Signature` header for `body` signed at `timestamp`.
    static func header(body: Data, secret: String, timestamp: Int) -> String {
        "t=\(timestamp),v1=\(v1(body: body, secret: secret, timestamp: timestamp))"
    }

    /// The lowercase hex HMAC-SHA256 over `"<timestamp>.<body>"`.
    static func v1(body: Data, secret: String, timestamp: Int) -> String {
        var payload = Data("\(timestamp).".utf8)
        payload.append(body)
        let code = HMAC<SHA256>.authenticationCode(for: payload, using: SymmetricKey(data: Data(secret.utf8)))
        return code.map { String(format: "%02x", $0) }.joined()
    }

    /// A secret that is not `secret`, for `badSignature` deliveries.
    static func wrongSecret(for secret: String) -> String {
        let wrong = "whsec_standin_wrong_secret"
        return wrong == secret ? wrong + "_2" : wrong
    }
}
