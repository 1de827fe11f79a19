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
        var faults: [Fault] = []
        for description in body.faults {
            switch description.fault() {
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

    /// `GET /_standin/requests`: answers the recorded checkout requests as a JSON array.
    func listRequests(_ request: HTTPRequest) async -> StandInResponse {
        .json(200, .array(await standIn.recordedRequests().map(\.json)))
    }

    /// `POST /_standin/reset`: clears all state and answers `{"reset":true}`.
    func reset(_ request: HTTPRequest) async -> StandInResponse {
        await standIn.reset()
        return .json(200, .object([("reset", .bool(true))]))
    }

    /// Makes a 400 error in Stripe's shape for a malformed control request.
    static func badRequest(_ message: String) -> StandInResponse {
        .stripeError(400, type: "invalid_request_error", code: nil, message: message)
    }
}
