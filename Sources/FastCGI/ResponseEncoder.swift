import HTTPResponder
import HTTPTypes

/// Serializes a response the way CGI and FastCGI expect it: a `Status:` line, headers, a blank line, the body.
public enum ResponseEncoder {
    /// The bytes to write to the web server for `response` (RFC 3875 §6.3.3 `Status:`; CRLF line ends).
    public static func encode(_ response: Response) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256 + response.body.count)
        let status = response.head.status
        appendLine(&out, "Status: \(status.code) \(sanitized(status.reasonPhrase))")
        for field in response.head.headerFields where field.name != .contentLength {
            appendLine(&out, "\(titleCased(field.name.canonicalName)): \(sanitized(field.value))")
        }
        appendLine(&out, "Content-Length: \(response.body.count)")
        out.append(13)
        out.append(10)
        out.append(contentsOf: response.body)
        return out
    }

    private static func appendLine(_ out: inout [UInt8], _ line: String) {
        out.append(contentsOf: line.utf8)
        out.append(13)
        out.append(10)
    }

    /// `content-type` as `Content-Type`: header names are case-insensitive, but people read them.
    static func titleCased(_ name: String) -> String {
        if name == "www-authenticate" { return "WWW-Authenticate" }
        var result = ""
        result.reserveCapacity(name.utf8.count)
        var startOfWord = true
        for character in name {
            result.append(startOfWord ? Character(character.uppercased()) : character)
            startOfWord = character == "-"
        }
        return result
    }

    /// Removes CR, LF and NUL so that no value can end a header line early (header injection). swift-http-types
    /// already legalizes field values and reason phrases; this holds whatever a value's origin (internal for tests).
    static func sanitized(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 == 13 || $0 == 10 || $0 == 0 }) else { return value }
        return String(value.unicodeScalars.filter { $0 != "\r" && $0 != "\n" && $0 != "\0" }.map(Character.init))
    }
}
