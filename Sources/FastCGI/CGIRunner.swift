import HTTPTypes

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Serves exactly one request the plain-CGI way: parameters from the environment, body from stdin, response to stdout.
public struct CGIRunner: Sendable {
    /// The largest body read; a larger one becomes `RequestBody.tooLarge`.
    public var maxBodySize: Int

    /// Creates a runner with a body limit.
    public init(maxBodySize: Int) {
        self.maxBodySize = maxBodySize
    }

    /// Reads the request, lets `handler` answer it and writes the answer to stdout.
    public func run(environment: [String: String], handler: @escaping FastCGIHandler) {
        let response: FastCGIResponse
        do {
            let head = try CGIEnvironment.requestHead(from: environment)
            let body = readBody(declared: environment["CONTENT_LENGTH"])
            let request = FastCGIRequest(head: head, body: body, remoteAddress: environment["REMOTE_ADDR"])
            response = AsyncBridge.run { await handler(request) }
        } catch {
            response = TransportResponses.badRequest
        }
        writeAll(ResponseEncoder.encode(response))
    }

    /// Reads exactly `CONTENT_LENGTH` bytes from stdin; CGI gives no body without one (RFC 3875 §4.2).
    private func readBody(declared: String?) -> RequestBody {
        switch CGIEnvironment.declaredLength(declared, limit: maxBodySize) {
        case .absent: return .bytes([])
        case .malformed: return .malformed("CONTENT_LENGTH is not a number")
        case .tooLarge: return .tooLarge
        case .exactly(let length):
            var body = [UInt8](repeating: 0, count: length)
            var filled = 0
            while filled < length {
                let count = body.withUnsafeMutableBytes { buffer in
                    read(0, buffer.baseAddress! + filled, length - filled)
                }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                filled += count
            }
            guard filled == length else {
                return .malformed("body has \(filled) bytes, CONTENT_LENGTH announced \(length)")
            }
            return .bytes(body)
        }
    }

    private func writeAll(_ bytes: [UInt8]) {
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { buffer in
                write(1, buffer.baseAddress! + written, bytes.count - written)
            }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return }
            written += count
        }
    }
}

/// The few answers the transport gives on its own, when a request never reaches the application.
enum TransportResponses {
    /// A request whose parameters are unusable (no valid `REQUEST_METHOD`).
    static let badRequest = FastCGIResponse(
        head: HTTPResponse(status: .badRequest, headerFields: [.contentType: "application/json"]),
        body: Array(#"{"detail":"Bad Request"}"#.utf8)
    )
}
