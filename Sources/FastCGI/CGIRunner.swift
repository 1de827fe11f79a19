import HTTPResponder

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Serves exactly one request the plain-CGI way: parameters from the environment, body from stdin, response to stdout.
public struct CGIRunner: Sendable {
    /// The largest body read; a larger one becomes `Request.Body.tooLarge`.
    private let maxBodySize: Int

    /// Creates a runner; of the configuration, a CGI request only needs the body limit.
    public init(configuration: TransportConfiguration = TransportConfiguration()) {
        self.maxBodySize = configuration.maxBodyBytes
    }

    /// Reads the request, lets `responder` answer it and writes the answer to stdout.
    public func run(environment: [String: String], responder: some Responder) {
        var declared = CGIEnvironment.declaredLength(environment["CONTENT_LENGTH"], limit: maxBodySize)
        let chunked = environment["HTTP_TRANSFER_ENCODING"]?.lowercased().contains("chunked") == true
        writeAll(
            TransportResponses.answer(params: environment, responder: responder) { head in
                let limit = responder.bodyLimit(for: head, standard: maxBodySize)
                declared = CGIEnvironment.declaredLength(environment["CONTENT_LENGTH"], limit: limit)
                return readBody(declared: declared, toEndOfInput: chunked, limit: limit)
            })
        // mod_cgid resets the client's connection when the program exits with body bytes unread, which would cut
        // the 413 off: read and discard the announced body (at most 16 MiB) after answering.
        if declared == .tooLarge, let announced = Int(environment["CONTENT_LENGTH"] ?? "") {
            discard(min(announced, 16 * 1024 * 1024))
        }
    }

    /// Reads and drops `limit` bytes of stdin, or until its end.
    private func discard(_ limit: Int) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var total = 0
        while total < limit {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(0, $0.baseAddress!, min($0.count, limit - total)) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return }
            total += count
        }
    }

    /// Reads exactly `CONTENT_LENGTH` bytes from stdin. Without one there is no body (RFC 3875 §4.2), except
    /// for a chunked request, whose body a server such as Apache streams to end of input: then read to the end.
    private func readBody(declared: CGIEnvironment.DeclaredLength, toEndOfInput: Bool, limit: Int) -> Request.Body {
        switch declared {
        case .absent:
            guard toEndOfInput else { return .bytes([]) }
            let bytes = read(upTo: limit + 1)
            return bytes.count > limit ? .tooLarge : .bytes(bytes)
        case .malformed: return .malformed("CONTENT_LENGTH is not a number")
        case .tooLarge: return .tooLarge
        case .exactly(let length):
            let body = read(upTo: length)
            guard body.count == length else {
                return .malformed("body has \(body.count) bytes, CONTENT_LENGTH announced \(length)")
            }
            return .bytes(body)
        }
    }

    /// Reads stdin until `limit` bytes or end of input.
    private func read(upTo limit: Int) -> [UInt8] {
        var body = [UInt8](repeating: 0, count: limit)
        var filled = 0
        while filled < limit {
            let count = body.withUnsafeMutableBytes { buffer in
                Glibc.read(0, buffer.baseAddress! + filled, limit - filled)
            }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            filled += count
        }
        body.removeSubrange(filled...)
        return body
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
