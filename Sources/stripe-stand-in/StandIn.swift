import Foundation

/// One `/v1` request as received, kept for `GET /_standin/requests`.
struct RecordedRequest: Sendable {
    /// The HTTP method.
    let method: String
    /// The request path without the query.
    let path: String
    /// Header names lowercased; repeated headers are joined with ", ".
    let headers: [String: String]
    /// The raw request body.
    let body: String
    /// The decoded form pairs in request order.
    let params: [FormPair]
    /// The `Idempotency-Key` header, if sent.
    let idempotencyKey: String?
    /// When the stand-in received the request.
    let receivedAt: Date

    /// Renders the record as the JSON object served by the control API.
    var json: JSON {
        .object([
            ("method", .string(method)),
            ("path", .string(path)),
            ("headers", .object(headers.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
            ("body", .string(body)),
            ("params", .array(params.map { .array([.string($0.key), .string($0.value)]) })),
            ("idempotencyKey", .optional(idempotencyKey)),
            ("receivedAt", .string(receivedAt.formatted(.iso8601))),
            // To the millisecond, for tests that time the tries against each other rather than a process's life.
            ("receivedAtMilliseconds", .number(Int((receivedAt.timeIntervalSince1970 * 1000).rounded()))),
        ])
    }
}

/// What an idempotency key was first used for: the same key must come with the same path and parameters.
struct IdempotentRequest: Sendable, Equatable {
    let path: String
    let params: [FormPair]
}

/// What to do with a request carrying an idempotency key.
enum IdempotencyDecision: Sendable {
    /// No stored result; handle the request, then call `finishIdempotent`.
    case proceed(token: UUID)
    /// Replay this stored response.
    case replay(StandInResponse)
    /// The key was first used with different parameters.
    case mismatch
    /// Another request with this key is still being handled.
    case inProgress
}

/// The stand-in's mutable state: settings, fault queue, recorded requests, idempotency store, the billing objects,
/// webhook settings and deliveries.
actor StandIn {

    /// The secret key accepted in `Authorization`.
    nonisolated let secretKey: String
    /// Price ids that exist.
    nonisolated let prices: Set<String>
    /// The settings the process started with, which `reset` returns to.
    nonisolated let configuration: StandInConfiguration

    private var faults: [QueuedFault] = []
    private var requests: [RecordedRequest] = []
    private var addedLatencyMilliseconds = 0
    private var completed: [String: (request: IdempotentRequest, response: StandInResponse)] = [:]
    private var running: [String: (request: IdempotentRequest, token: UUID)] = [:]
    private var billing: BillingState
    private var webhook: WebhookSettings
    private var deliveries: [DeliveryRecord] = []
    private var inbox: [InboxRecord] = []

    /// Creates the state from the process's settings.
    init(configuration: StandInConfiguration) {
        self.configuration = configuration
        self.secretKey = configuration.secretKey
        self.prices = configuration.prices
        self.billing = BillingState(
            strictCustomers: configuration.strictCustomers, portalConfigured: configuration.portalConfigured)
        self.webhook = WebhookSettings(url: configuration.webhookURL, secret: configuration.webhookSecret)
    }

    /// Appends faults to the queue and returns how many are now queued.
    func appendFaults(_ newFaults: [QueuedFault]) -> Int {
        faults.append(contentsOf: newFaults)
        return faults.count
    }

    /// Removes and returns the first queued fault that applies to a request with `method` and `path`, if any.
    func nextFault(method: String, path: String) -> Fault? {
        guard let index = faults.firstIndex(where: { $0.applies(method: method, path: path) }) else { return nil }
        return faults.remove(at: index).fault
    }

    /// Sets the latency added to every `/v1` request (0 clears it).
    func setAddedLatency(milliseconds: Int) {
        addedLatencyMilliseconds = max(0, milliseconds)
    }

    /// The latency added to every `/v1` request, in milliseconds.
    func addedLatency() -> Int {
        addedLatencyMilliseconds
    }

    /// Stores one received `/v1` request.
    func record(_ request: RecordedRequest) {
        requests.append(request)
    }

    /// Returns all recorded `/v1` requests, oldest first.
    func recordedRequests() -> [RecordedRequest] {
        requests
    }

    /// Clears everything back to how the process started: faults, recorded requests, the idempotency store, added
    /// latency, the billing objects and events, deliveries, the inbox, the switches and the webhook settings.
    func reset() {
        faults = []
        requests = []
        addedLatencyMilliseconds = 0
        completed = [:]
        running = [:]
        billing = BillingState(
            strictCustomers: configuration.strictCustomers, portalConfigured: configuration.portalConfigured)
        webhook = WebhookSettings(url: configuration.webhookURL, secret: configuration.webhookSecret)
        deliveries = []
        inbox = []
    }

    /// Decides how to treat a request with `key`, reserving the key when it proceeds.
    func beginIdempotent(key: String, request: IdempotentRequest) -> IdempotencyDecision {
        if let stored = completed[key] {
            return stored.request == request ? .replay(stored.response) : .mismatch
        }
        if let current = running[key] {
            return current.request == request ? .inProgress : .mismatch
        }
        let token = UUID()
        running[key] = (request, token)
        return .proceed(token: token)
    }

    /// Releases the reservation for `key`, storing `response` when it is a success (2xx).
    func finishIdempotent(key: String, token: UUID, response: StandInResponse?) {
        guard let current = running[key], current.token == token else { return }
        running[key] = nil
        if let response, (200..<300).contains(response.status) {
            completed[key] = (current.request, response)
        }
    }

    /// Runs `body` on the billing state, atomically.
    func withBilling<T: Sendable, E: Error>(_ body: @Sendable (inout BillingState) throws(E) -> T) throws(E) -> T {
        try body(&billing)
    }

    /// The webhook URL and secret.
    func webhookSettings() -> WebhookSettings {
        webhook
    }

    /// Replaces the webhook settings.
    func setWebhookSettings(_ settings: WebhookSettings) {
        webhook = settings
    }

    /// Stores one delivery attempt.
    func recordDelivery(_ delivery: DeliveryRecord) {
        deliveries.append(delivery)
    }

    /// All delivery attempts, oldest first.
    func recordedDeliveries() -> [DeliveryRecord] {
        deliveries
    }

    /// Stores one request received at `/_standin/inbox`.
    func receive(_ record: InboxRecord) {
        inbox.append(record)
    }

    /// Everything received at `/_standin/inbox`, oldest first.
    func inboxRecords() -> [InboxRecord] {
        inbox
    }
}
