import FlyingFox
import Foundation

/// Serves the unauthenticated `/_standin/...` control API that tests use to script the stand-in.
struct ControlRoutes: Sendable {

    /// The shared stand-in state.
    let standIn: StandIn

    /// `POST /_standin/faults` with `{"faults":[...]}`: appends faults and answers `{"queued":N}`.
    func appendFaults(_ request: HTTPRequest) async throws -> StandInResponse {
        /// The request body shape.
        struct Body: Decodable { let faults: [FaultDescription] }
        let body: Body
        do {
            body = try JSONDecoder().decode(Body.self, from: try await request.bodyData)
        } catch {
            return Self.badRequest("expected {\"faults\":[{\"kind\":...}]}: \(error)")
        }
        var faults: [QueuedFault] = []
        for description in body.faults {
            switch description.queued() {
            case .success(let fault): faults.append(fault)
            case .failure(let failure): return Self.badRequest(failure.message)
            }
        }
        let queued = await standIn.appendFaults(faults)
        return .json(200, .object([("queued", .number(queued))]))
    }

    /// `POST /_standin/latency` with `{"ms":N}`: sets the added latency and answers `{"ms":N}`.
    func setLatency(_ request: HTTPRequest) async throws -> StandInResponse {
        /// The request body shape.
        struct Body: Decodable { let ms: Int }
        guard let body = try? JSONDecoder().decode(Body.self, from: try await request.bodyData), body.ms >= 0 else {
            return Self.badRequest("expected {\"ms\":<non-negative integer>}")
        }
        await standIn.setAddedLatency(milliseconds: body.ms)
        return .json(200, .object([("ms", .number(body.ms))]))
    }

    /// `GET /_standin/requests`: answers the recorded `/v1` requests as a JSON array.
    func listRequests(_ request: HTTPRequest) async -> StandInResponse {
        .json(200, .array(await standIn.recordedRequests().map(\.json)))
    }

    /// `POST /_standin/reset`: clears all state and answers `{"reset":true}`.
    func reset(_ request: HTTPRequest) async -> StandInResponse {
        await standIn.reset()
        return .json(200, .object([("reset", .bool(true))]))
    }

    /// `GET /_standin/webhook`: answers `{"url","secret"}`.
    func webhook(_ request: HTTPRequest) async -> StandInResponse {
        .json(200, await standIn.webhookSettings().json)
    }

    /// `POST /_standin/webhook {"url"?, "secret"?}`: sets either (`"url": null` or `""` stops delivery) and
    /// answers the settings now in force.
    func setWebhook(_ request: HTTPRequest) async throws -> StandInResponse {
        do {
            let body = try ControlBody.parse(try await request.bodyData)
            try body.allow(["url", "secret"])
            var settings = await standIn.webhookSettings()
            if body.isNull("url") { settings.url = nil }
            if let text = try body.string("url") {
                if text.isEmpty {
                    settings.url = nil
                } else {
                    guard let url = WebhookSettings.url(from: text) else {
                        throw ControlError("url must be an absolute http(s) URL")
                    }
                    settings.url = url
                }
            }
            if let secret = try body.string("secret") {
                guard !secret.isEmpty else { throw ControlError("secret must not be empty") }
                settings.secret = secret
            }
            await standIn.setWebhookSettings(settings)
            return .json(200, settings.json)
        } catch let error as ControlError {
            return error.response
        }
    }

    /// `GET /_standin/settings`: answers `{"portalConfigured","strictCustomers"}`.
    func settings(_ request: HTTPRequest) async -> StandInResponse {
        .json(200, await Self.switches(of: standIn))
    }

    /// `POST /_standin/settings {"portalConfigured"?, "strictCustomers"?}`: sets the switches given and answers
    /// them all.
    func setSettings(_ request: HTTPRequest) async throws -> StandInResponse {
        do {
            let body = try ControlBody.parse(try await request.bodyData)
            try body.allow(["portalConfigured", "strictCustomers"])
            let portal = try body.bool("portalConfigured"), strict = try body.bool("strictCustomers")
            await standIn.withBilling { state in
                if let portal { state.portalConfigured = portal }
                if let strict { state.strictCustomers = strict }
            }
            return .json(200, await Self.switches(of: standIn))
        } catch let error as ControlError {
            return error.response
        }
    }

    /// The switches as JSON.
    private static func switches(of standIn: StandIn) async -> JSON {
        await standIn.withBilling { state in
            JSON.object([
                ("portalConfigured", .bool(state.portalConfigured)), ("strictCustomers", .bool(state.strictCustomers)),
            ])
        }
    }

    /// `GET /_standin/events`: every event produced, oldest first, as `{"id","type","created","body"}`.
    func listEvents(_ request: HTTPRequest) async -> StandInResponse {
        let events = await standIn.withBilling { $0.events }
        return .json(
            200,
            .array(
                events.map { event in
                    .object([
                        ("id", .string(event.id)), ("type", .string(event.type)), ("created", .number(event.created)),
                        ("body", .string(event.bodyText)),
                    ])
                }))
    }

    /// `GET /_standin/deliveries`: every delivery attempt, oldest first.
    func listDeliveries(_ request: HTTPRequest) async -> StandInResponse {
        .json(200, .array(await standIn.recordedDeliveries().map(\.json)))
    }

    /// `POST /_standin/inbox`: a webhook receiver for trying deliveries out. Keeps the request and answers
    /// `{"received":true}` with the status in the `status` query parameter (default 200), and a `Location` from
    /// `location`.
    func receive(_ request: HTTPRequest) async throws -> StandInResponse {
        let body = String(decoding: try await request.bodyData, as: UTF8.self)
        await standIn.receive(
            InboxRecord(
                path: request.path, query: request.target.query(),
                headers: APIRoute.lowercasedHeaders(request.headers), body: body, receivedAt: Date()))
        let query = FormLookup(params: FormDecoder.pairs(from: request.target.query()))
        let status = query["status"].flatMap { Int($0) }.flatMap { (100...599).contains($0) ? $0 : nil } ?? 200
        var response = StandInResponse.json(status, .object([("received", .bool(true))]))
        if let location = query["location"] { response.headers["Location"] = location }
        return response
    }

    /// `GET /_standin/inbox`: everything `POST /_standin/inbox` received, oldest first.
    func listInbox(_ request: HTTPRequest) async -> StandInResponse {
        .json(200, .array(await standIn.inboxRecords().map(\.json)))
    }

    /// Makes a 400 error in Stripe's shape for a malformed control request.
    static func badRequest(_ message: String) -> StandInResponse {
        .stripeError(400, type: "invalid_request_error", code: nil, message: message)
    }
}

/// One request received at `/_standin/inbox`.
struct InboxRecord: Sendable {
    let path: String
    let query: String
    /// Header names lowercased.
    let headers: [String: String]
    let body: String
    let receivedAt: Date

    /// The JSON object served by `GET /_standin/inbox`.
    var json: JSON {
        .object([
            ("path", .string(path)),
            ("query", .string(query)),
            ("headers", .object(headers.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
            ("body", .string(body)),
            ("receivedAt", .string(receivedAt.formatted(.iso8601))),
        ])
    }
}

/// A control request's refusal, answered as a 400 in Stripe's error shape.
struct ControlError: Error, Sendable {
    /// What is wrong.
    let message: String

    init(_ message: String) {
        self.message = message
    }

    /// The 400 answer.
    var response: StandInResponse {
        ControlRoutes.badRequest(message)
    }
}

/// A control request's JSON object body, read member by member; unknown members are refused so that a typo
/// never passes silently.
struct ControlBody {
    /// The object's members.
    let members: [String: Any]

    /// Parses `data` as a JSON object; an empty body is `{}`.
    static func parse(_ data: Data) throws(ControlError) -> ControlBody {
        if data.allSatisfy({ [0x20, 0x09, 0x0A, 0x0D].contains($0) }) { return ControlBody(members: [:]) }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ControlError("expected a JSON object body")
        }
        return ControlBody(members: object)
    }

    /// Refuses members not in `keys`.
    func allow(_ keys: Set<String>, in context: String = "body") throws(ControlError) {
        if let unknown = members.keys.sorted().first(where: { !keys.contains($0) }) {
            throw ControlError(
                "unknown member '\(unknown)' in \(context); known: \(keys.sorted().joined(separator: ", "))")
        }
    }

    /// Whether `key` is present with JSON `null`.
    func isNull(_ key: String) -> Bool {
        members[key] is NSNull
    }

    /// The boolean `key`, if present.
    func bool(_ key: String) throws(ControlError) -> Bool? {
        guard let value = members[key], !(value is NSNull) else { return nil }
        guard let bool = value as? Bool else { throw ControlError("\(key) must be true or false") }
        return bool
    }

    /// The integer `key`, if present.
    func int(_ key: String) throws(ControlError) -> Int? {
        guard let value = members[key], !(value is NSNull) else { return nil }
        guard let number = value as? NSNumber, let int = Int(exactly: number.doubleValue) else {
            throw ControlError("\(key) must be an integer")
        }
        return int
    }

    /// The string `key`, if present.
    func string(_ key: String) throws(ControlError) -> String? {
        guard let value = members[key], !(value is NSNull) else { return nil }
        guard let string = value as? String else { throw ControlError("\(key) must be a string") }
        return string
    }

    /// The object `key`, if present.
    func object(_ key: String) throws(ControlError) -> ControlBody? {
        guard let value = members[key], !(value is NSNull) else { return nil }
        guard let object = value as? [String: Any] else { throw ControlError("\(key) must be an object") }
        return ControlBody(members: object)
    }
}
