import CFastCGI
import HTTPResponder

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reading a request from, and writing its answer to, an accepted `FCGX_Request`.
enum FastCGIExchange {
    /// The request's FastCGI params (its CGI meta-variables).
    static func params(of request: UnsafeMutablePointer<FCGX_Request>) -> [String: String] {
        var params: [String: String] = [:]
        guard var cursor = request.pointee.envp else { return params }
        while let entry = cursor.pointee {
            let length = strlen(entry)
            let bytes = UnsafeRawBufferPointer(start: entry, count: length)
            if let equals = bytes.firstIndex(of: UInt8(ascii: "=")) {
                let name = String(decoding: bytes[..<equals], as: UTF8.self)
                params[name] = String(decoding: bytes[(equals + 1)...], as: UTF8.self)
            }
            cursor += 1
        }
        return params
    }

    /// Reads the body from FCGI_STDIN: `CONTENT_LENGTH` bytes, or to the end of the stream when the server
    /// sent none (nginx with a chunked request body), never keeping more than the limit.
    static func body(of request: UnsafeMutablePointer<FCGX_Request>, declared: String?, limit: Int) -> Request.Body {
        let expected: Int?
        switch CGIEnvironment.declaredLength(declared, limit: limit) {
        case .absent: expected = nil
        case .exactly(let length): expected = length
        case .tooLarge: return .tooLarge
        case .malformed: return .malformed("CONTENT_LENGTH is not a number")
        }
        // With a length, read exactly that many bytes (as CGI does); without one, up to one past the limit.
        let capacity = expected ?? (limit + 1)
        var body = [UInt8](repeating: 0, count: expected ?? min(capacity, 16 * 1024))
        var filled = 0
        while true {
            if filled == body.count {
                if body.count >= capacity { break }
                body.append(contentsOf: repeatElement(0, count: min(body.count, capacity - body.count)))
            }
            let count = body.withUnsafeMutableBytes { buffer in
                FCGX_GetStr(
                    buffer.baseAddress!.assumingMemoryBound(to: CChar.self) + filled,
                    Int32(buffer.count - filled), request.pointee.in)
            }
            if count <= 0 { break }
            filled += Int(count)
        }
        if filled > limit { return .tooLarge }
        if let expected, filled < expected {
            return .malformed("body has \(filled) bytes, CONTENT_LENGTH announced \(expected)")
        }
        body.removeSubrange(filled...)
        return .bytes(body)
    }

    /// Writes the answer and ends the request, closing the connection.
    ///
    /// The connection is closed after every response: a kept-alive connection would hold the accept lock while
    /// idle and could not be woken for shutdown.
    static func finish(_ request: UnsafeMutablePointer<FCGX_Request>, writing bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { pointer in
                _ = FCGX_PutStr(pointer, Int32(buffer.count), request.pointee.out)
            }
        }
        request.pointee.keepConnection = 0
        FCGX_Finish_r(request)
    }
}
