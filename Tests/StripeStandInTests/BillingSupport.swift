import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

extension StandInClient {

    /// Sends an authorized `/v1` request: a GET with `form` as the query, or a POST with it as the body.
    func api(
        _ method: String, _ path: String, _ form: String = "", idempotencyKey: String? = nil,
        authorization: String? = "Bearer sk_test_standin"
    ) async throws -> (Data, HTTPURLResponse) {
        var headers: [String: String] = [:]
        if let authorization { headers["Authorization"] = authorization }
        if let idempotencyKey { headers["Idempotency-Key"] = idempotencyKey }
        if method == "GET" {
            var components = URLComponents(url: baseURL.appendingPathComponent(path), resolvingAgainstBaseURL: false)!
            if !form.isEmpty {
                components.percentEncodedQuery = form.replacingOccurrences(of: "[", with: "%5B")
                    .replacingOccurrences(of: "]", with: "%5D")
            }
            var request = URLRequest(url: components.url!)
            for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
            let (data, response) = try await session.data(for: request)
            return (data, response as! HTTPURLResponse)
        }
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return try await send(method, path, body: form, headers: headers)
    }

    /// Sends an authorized `/v1` request that must succeed, and returns its JSON object.
    func apiObject(_ method: String, _ path: String, _ form: String = "") async throws -> [String: Any] {
        let (data, response) = try await api(method, path, form)
        #expect(response.statusCode == 200, "\(method) \(path): \(String(decoding: data, as: UTF8.self))")
        return try StandInClient.object(data)
    }

    /// Posts a JSON body to a control route and returns the status and the JSON object answered.
    func control(_ path: String, _ body: String = "{}") async throws -> (Int, [String: Any]) {
        let (data, response) = try await send(
            "POST", path, body: body, headers: ["Content-Type": "application/json"])
        return (response.statusCode, try StandInClient.object(data))
    }

    /// GETs a control route answering a JSON array.
    func controlList(_ path: String) async throws -> [[String: Any]] {
        let (data, _) = try await send("GET", path)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
    }

    /// Creates an open subscription-mode session for `user_id` and returns its id.
    func openSession(_ extra: String = "&customer_email=ada%40example.com") async throws -> String {
        let session = try await apiObject("POST", "v1/checkout/sessions", subscriptionForm + extra)
        return try #require(session["id"] as? String)
    }

    /// Creates a session and completes it with `status`; returns the control's answer.
    func completedSession(status: String = "active", deliver: String = #"{"none":true}"#) async throws
        -> (session: String, answer: [String: Any])
    {
        let id = try await openSession()
        let (code, answer) = try await control(
            "_standin/checkout/sessions/\(id)/complete", #"{"subscription_status":"\#(status)","deliver":\#(deliver)}"#)
        #expect(code == 200, "\(answer)")
        return (id, answer)
    }
}

/// A subscription-mode checkout form with metadata for the subscription.
let subscriptionForm =
    "mode=subscription&line_items[0][price]=price_standin_pro&line_items[0][quantity]=1"
    + "&success_url=https://app.example/ok&cancel_url=https://app.example/pricing&client_reference_id=user_7"
    + "&metadata[user_id]=user_7&subscription_data[metadata][user_id]=user_7"

/// The events of a control answer, in the order produced.
func producedEvents(_ answer: [String: Any]) throws -> [[String: Any]] {
    try #require(answer["events"] as? [[String: Any]])
}

/// The deliveries of a control answer, in the order made.
func plannedDeliveries(_ answer: [String: Any]) throws -> [[String: Any]] {
    try #require(answer["deliveries"] as? [[String: Any]])
}

/// Decodes an event body and returns its `data.object`.
func eventObject(_ event: [String: Any]) throws -> [String: Any] {
    let body = try #require(event["body"] as? String)
    let decoded = try StandInClient.object(Data(body.utf8))
    let data = try #require(decoded["data"] as? [String: Any])
    return try #require(data["object"] as? [String: Any])
}

/// Checks a `Stripe-Signature` header the way Stripe's libraries do, with the HMAC computed by `openssl`, so the
/// stand-in's own code is not what checks it.
enum IndependentSignature {

    /// The `t` and every `v1` of a header.
    static func parse(_ header: String) -> (timestamp: Int?, v1: [String]) {
        var timestamp: Int?
        var signatures: [String] = []
        for element in header.split(separator: ",") {
            let pair = element.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2 else { continue }
            if pair[0] == "t" { timestamp = Int(pair[1]) }
            if pair[0] == "v1" { signatures.append(pair[1]) }
        }
        return (timestamp, signatures)
    }

    /// Whether `header` signs `body` with `secret`.
    static func verifies(_ header: String, body: Data, secret: String) throws -> Bool {
        let (timestamp, signatures) = parse(header)
        guard let timestamp else { return false }
        var payload = Data("\(timestamp).".utf8)
        payload.append(body)
        let expected = try hmacSHA256(secret: secret, payload: payload)
        return signatures.contains(expected)
    }

    /// The hex HMAC-SHA256 of `payload` keyed with `secret`, from `openssl dgst -sha256 -hmac`.
    static func hmacSHA256(secret: String, payload: Data) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["dgst", "-sha256", "-hmac", secret]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(payload)
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return String(text.split(separator: " ").last ?? "")
    }
}
