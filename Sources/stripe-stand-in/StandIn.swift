import Foundation

/// One checkout request as received, kept for `GET /_standin/requests`.
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
        ])
    }
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

/// The stand-in's mutable state: settings, fault queue, recorded requests and idempotency store.
actor StandIn {

    /// The secret key accepted in `Authorization`.
    nonisolated let secretKey: String
    /// Price ids that exist.
    nonisolated let prices: Set<String>

    private var faults: [Fault] = []
    private var requests: [RecordedRequest] = []
    private var addedLatencyMilliseconds = 0
    private var completed: [String: (params: [FormPair], response: StandInResponse)] = [:]
    private var running: [String: (params: [FormPair], token: UUID)] = [:]

    /// Creates the state with the given key and price list.
    init(secretKey: String, prices: Set<String>) {
        self.secretKey = secretKey
        self.prices = prices
    }

    /// Appends faults to the queue and returns how many are now queued.
    func appendFaults(_ newFaults: [Fault]) -> Int {
        faults.append(contentsOf: newFaults)
        return faults.count
    }

    /// Removes and returns the next queued fault, if any.
    func nextFault() -> Fault? {
        faults.isEmpty ? nil : faults.removeFirst()
    }

    /// Sets the latency added to every checkout request (0 clears it).
    func setAddedLatency(milliseconds: Int) {
        addedLatencyMilliseconds = max(0, milliseconds)
    }

    /// The latency added to every checkout request, in milliseconds.
    func addedLatency() -> Int {
        addedLatencyMilliseconds
    }

    /// Stores one received checkout request.
    func record(_ request: RecordedRequest) {
        requests.append(request)
    }

    /// Returns all recorded checkout requests, oldest first.
    func recordedRequests() -> [RecordedRequest] {
        requests
    }

    /// Clears faults, recorded requests, the idempotency store and added latency.
    func reset() {
        faults = []
        requests = []
        addedLatencyMilliseconds = 0
        completed = [:]
        running = [:]
    }

    /// Decides how to treat a request with `key` and `params`, reserving the key when it proceeds.
    func beginIdempotent(key: String, params: [FormPair]) -> IdempotencyDecision {
        if let stored = completed[key] {
            return stored.params == params ? .replay(stored.response) : .mismatch
        }
        if let current = running[key] {
            return current.params == params ? .inProgress : .mismatch
        }
        let token = UUID()
        running[key] = (params, token)
        return .proceed(token: token)
    }

    /// Releases the reservation for `key`, storing `response` when it is a success (2xx).
    func finishIdempotent(key: String, token: UUID, response: StandInResponse?) {
        guard let current = running[key], current.token == token else { return }
        running[key] = nil
        if let response, (200..<300).contains(response.status) {
            completed[key] = (current.params, response)
        }
    }
}
