import Foundation

/// A response as a CGI program wrote it: the `Status:` line, headers, and body, parsed strictly.
struct CGIResponse: Sendable {
    var status: Int
    var reason: String
    /// Header names lowercased; values as written.
    var headers: [String: String]
    /// Header lines exactly as written, in order (to check CRLF and that nothing was injected).
    var headerLines: [String]
    var body: Data

    var bodyText: String { String(decoding: body, as: UTF8.self) }

    /// The body as a JSON object, or nil when it is not one.
    var object: [String: Any]? { try? json() }

    /// The body as a JSON object (Foundation), for reading members.
    func json() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw SupportError("body is not a JSON object: \(bodyText)")
        }
        return object
    }

    /// Parses CGI output; every header line must end in CRLF and the first must be `Status:`.
    static func parse(_ output: Data) throws -> CGIResponse {
        let bytes = [UInt8](output)
        guard let end = find([13, 10, 13, 10], in: bytes) else {
            throw SupportError("no CRLF CRLF after the headers in: \(String(decoding: output, as: UTF8.self))")
        }
        let head = String(decoding: bytes[..<end], as: UTF8.self)
        let lines = head.components(separatedBy: "\r\n")
        guard let statusLine = lines.first, statusLine.hasPrefix("Status: ") else {
            throw SupportError("first line is not a Status line: \(lines.first ?? "")")
        }
        let statusParts = statusLine.dropFirst(8).split(separator: " ", maxSplits: 1)
        guard let status = Int(statusParts.first ?? "") else { throw SupportError("bad status line \(statusLine)") }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":"), !line.contains("\n"), !line.contains("\r") else {
                throw SupportError("malformed header line \(line.debugDescription)")
            }
            let name = line[..<colon].lowercased()
            headers[name] = String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
        }
        let body = Data(bytes[(end + 4)...])
        if let length = headers["content-length"] {
            guard Int(length) == body.count else {
                throw SupportError("Content-Length \(length) but \(body.count) bytes")
            }
        }
        return CGIResponse(
            status: status, reason: String(statusParts.count > 1 ? statusParts[1] : ""), headers: headers,
            headerLines: Array(lines), body: body)
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for index in 0...(haystack.count - needle.count)
        where haystack[index..<(index + needle.count)].elementsEqual(needle) {
            return index
        }
        return nil
    }
}
