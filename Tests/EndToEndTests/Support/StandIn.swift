import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A running `stripe-stand-in` on a free loopback port, with its control API (faults, recorded requests).
final class StandIn: @unchecked Sendable {
    // @unchecked: `process` is only touched at start and in stop(), never concurrently.
    let process: Process
    /// `http://127.0.0.1:PORT`, what STRIPE_API_BASE is set to.
    let baseURL: String
    static let secretKey = "sk_test_standin"
    static let basicPrice = "price_standin_basic"
    static let proPrice = "price_standin_pro"

    /// The key this stand-in accepts.
    let acceptedKey: String

    /// Starts a stand-in that accepts `secretKey`, and waits for its `listening on` line.
    init(secretKey: String = StandIn.secretKey) async throws {
        acceptedKey = secretKey
        let process = Process()
        process.executableURL = try Binaries.standIn()
        process.arguments = ["--port", "0", "--host", "127.0.0.1"]
        process.environment = [
            "STAND_IN_SECRET_KEY": secretKey, "STAND_IN_PRICES": "\(Self.basicPrice),\(Self.proPrice)",
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let line = await Self.firstLine(of: output.fileHandleForReading)
        guard line.hasPrefix("listening on "), let address = line.split(separator: " ").last else {
            process.terminate()
            throw SupportError("stand-in did not start: \(line)")
        }
        self.process = process
        self.baseURL = "http://\(address)"
    }

    deinit { stop() }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    /// Queues faults, each used by one checkout call in order (see the stand-in's README in docs/testing.md).
    func inject(_ faults: [[String: Any]]) async throws {
        _ = try await control("POST", "/_standin/faults", ["faults": faults])
    }

    /// Adds fixed latency to every checkout call.
    func setLatency(milliseconds: Int) async throws {
        _ = try await control("POST", "/_standin/latency", ["ms": milliseconds])
    }

    /// Every checkout call received so far.
    func recordedRequests() async throws -> [RecordedRequest] {
        let data = try await control("GET", "/_standin/requests", nil)
        guard let items = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
            throw SupportError("unexpected /_standin/requests body")
        }
        return items.map(RecordedRequest.init)
    }

    /// Pays an open session: the customer and subscription are created, the events produced and returned
    /// (delivered only when a webhook URL is set; these tests deliver them through the binary themselves).
    func complete(sessionID: String, status: String = "active", deliver: [String: Any] = ["none": true])
        async throws -> Simulation
    {
        try Simulation(
            try await control(
                "POST", "/_standin/checkout/sessions/\(sessionID)/complete",
                ["subscription_status": status, "deliver": deliver]))
    }

    /// Changes a subscription as Stripe would (`canceled`, `past_due`, another price…) and returns its events.
    func updateSubscription(id: String, _ changes: [String: Any], deliver: [String: Any] = ["none": true])
        async throws -> Simulation
    {
        var body = changes
        body["deliver"] = deliver
        return try Simulation(try await control("POST", "/_standin/subscriptions/\(id)/update", body))
    }

    /// Signs events with `secret` from now on (and delivers them to `url`, when one is given).
    func setWebhook(secret: String, url: String? = nil) async throws {
        _ = try await control("POST", "/_standin/webhook", ["secret": secret, "url": url ?? ""])
    }

    /// Turns the Billing Portal's configuration off or on.
    func setPortalConfigured(_ configured: Bool) async throws {
        _ = try await control("POST", "/_standin/settings", ["portalConfigured": configured])
    }

    private func control(_ method: String, _ path: String, _ body: [String: Any]?) async throws -> Data {
        var request = URLRequest(url: URL(string: baseURL + path)!)
        request.httpMethod = method
        if let body {
            request.httpBody = try JSONSerialization.data(withJSONObject: body)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        guard (response as? HTTPURLResponse)?.statusCode == 200 else {
            throw SupportError("stand-in control \(path) failed: \(String(decoding: data, as: UTF8.self))")
        }
        return data
    }

    private static func firstLine(of handle: FileHandle) async -> String {
        (try? await Blocking.run {
            var bytes = Data()
            while !bytes.contains(UInt8(ascii: "\n")) {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                bytes.append(chunk)
            }
            let text = String(decoding: bytes, as: UTF8.self)
            return text.split(separator: "\n").first.map(String.init) ?? ""
        }) ?? ""
    }
}

/// What a simulation control produced: the signed events, in the order Stripe would deliver them.
struct Simulation: Sendable {
    struct Event: Sendable {
        var id: String
        var type: String
        var body: String
        var signature: String
    }

    /// The events, in the order produced.
    var events: [Event]

    init(_ data: Data) throws {
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let events = root["events"] as? [[String: Any]]
        else { throw SupportError("unexpected simulation answer: \(String(decoding: data, as: UTF8.self))") }
        self.events = try events.map { event in
            guard let id = event["id"] as? String, let type = event["type"] as? String,
                let body = event["body"] as? String, let signature = event["signature"] as? String
            else { throw SupportError("unexpected event: \(event)") }
            return Event(id: id, type: type, body: body, signature: signature)
        }
    }

    /// The subscription the events name (`sub_…` in `data.object`).
    var subscriptionID: String? {
        for event in events {
            if let range = event.body.range(of: #""subscription":"sub_[A-Za-z0-9]+""#, options: .regularExpression) {
                return String(event.body[range].dropFirst(#""subscription":""#.count).dropLast())
            }
        }
        return nil
    }
}

/// One API call as the stand-in received it.
struct RecordedRequest: @unchecked Sendable {
    // @unchecked: plain values decoded from JSON, never mutated after init.
    var method: String
    var path: String
    var headers: [String: String]
    var params: [(String, String)]
    var idempotencyKey: String?
    /// When the stand-in received it, in seconds since the epoch (to the millisecond).
    var receivedAt: Double?

    init(_ json: [String: Any]) {
        method = (json["method"] as? String) ?? ""
        path = (json["path"] as? String) ?? ""
        headers = (json["headers"] as? [String: String]) ?? [:]
        params = ((json["params"] as? [[String]]) ?? []).compactMap { $0.count == 2 ? ($0[0], $0[1]) : nil }
        idempotencyKey = json["idempotencyKey"] as? String
        receivedAt = (json["receivedAtMilliseconds"] as? NSNumber).map { $0.doubleValue / 1000 }
    }

    /// The value of one form field, as Stripe decoded it.
    func param(_ name: String) -> String? {
        params.first { $0.0 == name }?.1
    }
}
