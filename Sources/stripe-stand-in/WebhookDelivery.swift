import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// How a control asks for its events to be delivered, for the faults Stripe's delivery has.
struct DeliverOptions: Sendable, Equatable {
    /// Each event is delivered twice in a row.
    var duplicate = false
    /// The events of this call are delivered last first.
    var reverse = false
    /// `v1` is computed with another secret.
    var badSignature = false
    /// Milliseconds to wait before each delivery.
    var delayMs = 0
    /// Nothing is delivered; the events are only produced and returned.
    var none = false

    /// The members a `deliver` object may have.
    static let keys: Set<String> = ["duplicate", "reverse", "badSignature", "delayMs", "none"]

    /// Reads the options from a `deliver` object (absent: the defaults).
    init(_ body: ControlBody?) throws(ControlError) {
        guard let body else { return }
        try body.allow(Self.keys, in: "deliver")
        duplicate = try body.bool("duplicate") ?? false
        reverse = try body.bool("reverse") ?? false
        badSignature = try body.bool("badSignature") ?? false
        none = try body.bool("none") ?? false
        delayMs = try body.int("delayMs") ?? 0
        guard (0...60_000).contains(delayMs) else { throw ControlError("deliver.delayMs must be 0...60000") }
    }

    /// The defaults: each event once, in order, well signed, at once.
    init() {}
}

/// One delivery attempt, kept for `GET /_standin/deliveries`.
struct DeliveryRecord: Sendable {
    let event: String
    let type: String
    let url: String
    let signature: String
    /// The receiver's HTTP status, or `nil` when there was no answer.
    let status: Int?
    /// Why there was no answer (refused, timed out…).
    let error: String?
    /// The start of the receiver's answer body, up to 2000 characters.
    let response: String?
    let deliveredAt: Date
    let durationMs: Int

    /// The JSON object served by the control API.
    var json: JSON {
        var members: [(String, JSON)] = [
            ("event", .string(event)),
            ("type", .string(type)),
            ("url", .string(url)),
            ("signature", .string(signature)),
            ("status", status.map(JSON.number) ?? .null),
        ]
        if let error { members.append(("error", .string(error))) }
        members += [
            ("response", .optional(response)),
            ("deliveredAt", .string(deliveredAt.formatted(.iso8601))),
            ("durationMs", .number(durationMs)),
        ]
        return .object(members)
    }
}

/// Delivers events as `stripe listen --forward-to` does, and answers what was produced and delivered.
struct WebhookDispatcher: Sendable {

    /// The shared stand-in state.
    let standIn: StandIn

    /// Delivers `events` (when a webhook URL is set and `options.none` is not) and returns the control answer:
    /// `{"events":[{id,type,body,signature}],"deliveries":[{event,type,signature,delivered,status,error?}]}`, the
    /// deliveries in the order they were made (or would have been made), duplicates and reversal included.
    func deliver(_ events: [EventRecord], options: DeliverOptions) async -> JSON {
        let settings = await standIn.webhookSettings()
        let secret = options.badSignature ? WebhookSignature.wrongSecret(for: settings.secret) : settings.secret
        let signedAt = unixNow()
        let produced: [JSON] = events.map { event in
            .object([
                ("id", .string(event.id)),
                ("type", .string(event.type)),
                ("body", .string(event.bodyText)),
                ("signature", .string(WebhookSignature.header(body: event.body, secret: secret, timestamp: signedAt))),
            ])
        }
        var order = options.duplicate ? events.flatMap { [$0, $0] } : events
        if options.reverse { order.reverse() }
        let target = options.none ? nil : settings.url
        var deliveries: [JSON] = []
        for event in order {
            guard let url = target else {
                let signature = WebhookSignature.header(body: event.body, secret: secret, timestamp: signedAt)
                deliveries.append(Self.entry(event, signature: signature, delivered: false, status: nil, error: nil))
                continue
            }
            if options.delayMs > 0 { try? await Task.sleep(for: .milliseconds(options.delayMs)) }
            let signature = WebhookSignature.header(body: event.body, secret: secret, timestamp: unixNow())
            let started = Date()
            let outcome = await WebhookSender.post(event.body, signature: signature, to: url)
            await standIn.recordDelivery(
                DeliveryRecord(
                    event: event.id, type: event.type, url: url.absoluteString, signature: signature,
                    status: outcome.status, error: outcome.error, response: outcome.response, deliveredAt: started,
                    durationMs: Int(Date().timeIntervalSince(started) * 1000)))
            deliveries.append(
                Self.entry(event, signature: signature, delivered: true, status: outcome.status, error: outcome.error))
        }
        return .object([("events", .array(produced)), ("deliveries", .array(deliveries))])
    }

    /// Delivers `events` with the default options without waiting, when a webhook URL is set (events an API call
    /// produced, as Stripe sends them after answering).
    func deliverInBackground(_ events: [EventRecord]) {
        let dispatcher = self
        Task {
            guard await dispatcher.standIn.webhookSettings().url != nil else { return }
            _ = await dispatcher.deliver(events, options: DeliverOptions())
        }
    }

    /// One member of `deliveries` in a control answer.
    private static func entry(_ event: EventRecord, signature: String, delivered: Bool, status: Int?, error: String?)
        -> JSON
    {
        var members: [(String, JSON)] = [
            ("event", .string(event.id)),
            ("type", .string(event.type)),
            ("signature", .string(signature)),
            ("delivered", .bool(delivered)),
            ("status", status.map(JSON.number) ?? .null),
        ]
        if let error { members.append(("error", .string(error))) }
        return .object(members)
    }
}

/// POSTs one event body to a webhook endpoint with Stripe's headers, 10 s timeout, no redirects followed.
enum WebhookSender {

    /// Seconds a delivery may take, as Stripe allows.
    static let timeoutSeconds: TimeInterval = 10

    /// What the receiver answered.
    struct Outcome: Sendable {
        let status: Int?
        let error: String?
        let response: String?
    }

    /// The session for all deliveries; redirects are answered, not followed, as Stripe treats them.
    static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeoutSeconds
        configuration.timeoutIntervalForResource = timeoutSeconds
        configuration.httpMaximumConnectionsPerHost = 16
        return URLSession(configuration: configuration, delegate: RedirectRefuser(), delegateQueue: nil)
    }()

    /// Sends `body` signed with `signature` to `url`.
    static func post(_ body: Data, signature: String, to url: URL) async -> Outcome {
        var request = URLRequest(url: url, timeoutInterval: timeoutSeconds)
        request.httpMethod = "POST"
        request.httpBody = body
        request.setValue("application/json; charset=utf-8", forHTTPHeaderField: "Content-Type")
        request.setValue(signature, forHTTPHeaderField: "Stripe-Signature")
        request.setValue("Stripe/1.0 (+https://stripe.com/docs/webhooks)", forHTTPHeaderField: "User-Agent")
        request.setValue("*/*; q=0.5, application/xml", forHTTPHeaderField: "Accept")
        request.setValue("no-cache", forHTTPHeaderField: "Cache-Control")
        do {
            let (data, response) = try await session.data(for: request)
            let status = (response as? HTTPURLResponse)?.statusCode
            return Outcome(
                status: status, error: nil, response: String(String(decoding: data, as: UTF8.self).prefix(2000)))
        } catch let error as URLError {
            return Outcome(
                status: nil, error: "URLError \(error.code.rawValue): \(error.localizedDescription)", response: nil)
        } catch {
            return Outcome(status: nil, error: "\(error)", response: nil)
        }
    }
}

/// Answers a redirect instead of following it.
final class RedirectRefuser: NSObject, URLSessionTaskDelegate, Sendable {
    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }
}
