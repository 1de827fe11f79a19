import HTTPResponder
import HTTPTypes
import Testing

@testable import FastCGI

/// `ResponseEncoder.encode`: the exact bytes written back to the web server.
@Suite struct ResponseEncoderTests {
    static func encoded(_ status: HTTPResponse.Status, _ fields: HTTPFields = [:], body: String = "") -> String {
        let response = Response(head: HTTPResponse(status: status, headerFields: fields), body: Array(body.utf8))
        return String(decoding: ResponseEncoder.encode(response), as: UTF8.self)
    }

    @Test("a Status line, title-cased headers, Content-Length, a blank line and the body, all CRLF")
    func exactBytes() {
        let text = Self.encoded(
            .ok, [.contentType: "application/json", .cacheControl: "no-store", .wwwAuthenticate: "Bearer"],
            body: #"{"url":"x"}"#)
        #expect(
            text == "Status: 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
                + "WWW-Authenticate: Bearer\r\nContent-Length: 11\r\n\r\n{\"url\":\"x\"}")
    }

    @Test(
        "Content-Length is the body's real length, once, whatever the response said",
        arguments: [
            ("", "0"), ("é", "2"), (String(repeating: "a", count: 1000), "1000"),
        ])
    func contentLength(body: String, length: String) {
        let text = Self.encoded(.unprocessableContent, [.contentLength: "5"], body: body)
        #expect(text == "Status: 422 Unprocessable Content\r\nContent-Length: \(length)\r\n\r\n\(body)")
    }

    @Test(
        "status lines follow RFC 3875",
        arguments: [
            (HTTPResponse.Status.noContent, "Status: 204 No Content"),
            (.serviceUnavailable, "Status: 503 Service Unavailable"),
            (.unauthorized, "Status: 401 Unauthorized"), (.contentTooLarge, "Status: 413 Content Too Large"),
        ])
    func statusLines(status: HTTPResponse.Status, line: String) {
        #expect(Self.encoded(status).hasPrefix(line + "\r\n"))
    }

    @Test(
        "CR, LF and NUL in a header value or reason phrase cannot start another header",
        arguments: [
            "a\r\nSet-Cookie: evil=1", "a\nSet-Cookie: evil=1", "a\rSet-Cookie: evil=1", "a\u{0}\r\nSet-Cookie: evil=1",
        ])
    func noInjection(value: String) {
        let text = Self.encoded(
            HTTPResponse.Status(code: 299, reasonPhrase: value), [HTTPField.Name("X-Reason")!: value], body: "{}")
        let lines = text.components(separatedBy: "\r\n")
        #expect(lines.count == 5)
        #expect(!lines.contains { $0.hasPrefix("Set-Cookie") })
        #expect(!text.utf8.contains(0))
        #expect(text.utf8.filter { $0 == 10 }.count == 4)
        #expect(lines[1].hasPrefix("X-Reason: a"))
    }

    @Test(
        "the sanitizer itself drops every CR, LF and NUL and keeps everything else",
        arguments: [
            ("a\r\nSet-Cookie: evil=1", "aSet-Cookie: evil=1"), ("a\nb", "ab"), ("a\rb", "ab"), ("a\u{0}b", "ab"),
            ("\r\n\r\n", ""), ("\u{0}\r\u{0}\n", ""), ("é\r\nü", "éü"), ("\n\rtrailing\r\n", "trailing"),
            ("plain value", "plain value"), ("tab\tand é", "tab\tand é"), ("", ""),
        ])
    func sanitizer(value: String, expected: String) {
        // swift-http-types replaces these characters before the encoder sees a field, so only a direct call shows
        // the project's own sanitizer at work.
        let cleaned = ResponseEncoder.sanitized(value)
        #expect(cleaned == expected)
        #expect(!cleaned.utf8.contains { $0 == 13 || $0 == 10 || $0 == 0 })
    }

    /// Indices of LF bytes in the head (up to the blank line) not preceded by CR, and of CRs not followed by LF.
    static func strayLineEnds(_ bytes: [UInt8]) -> [Int] {
        var stray: [Int] = []
        var index = 0
        while index < bytes.count {
            if bytes[index] == 10, index == 0 || bytes[index - 1] != 13 { stray.append(index) }
            if bytes[index] == 13, index + 1 >= bytes.count || bytes[index + 1] != 10 { stray.append(index) }
            if index >= 3, bytes[(index - 3)...index].elementsEqual([13, 10, 13, 10]) { break }
            index += 1
        }
        return stray
    }

    @Test(
        "every header line written ends in CRLF: no bare LF or CR anywhere in the head",
        arguments: [
            (HTTPResponse.Status.ok, "{}"), (.noContent, ""), (.unauthorized, "{}"), (.serviceUnavailable, "{}"),
            (HTTPResponse.Status(code: 299, reasonPhrase: "odd reason"), "x\ny\r\n"),
        ])
    func everyLineEndsInCRLF(status: HTTPResponse.Status, body: String) {
        let fields: HTTPFields = [
            .contentType: "application/json", .cacheControl: "no-store", .wwwAuthenticate: "Bearer",
            .retryAfter: "5", HTTPField.Name("X-Reason")!: "a\nb",
        ]
        let bytes = ResponseEncoder.encode(
            Response(head: HTTPResponse(status: status, headerFields: fields), body: Array(body.utf8)))
        #expect(Self.strayLineEnds(bytes) == [])
        // Seven lines (Status, five fields, Content-Length), each ended by CRLF, then the blank line.
        let head = Array(bytes.prefix(bytes.count - body.utf8.count))
        #expect(head.filter { $0 == 10 }.count == 8)
        #expect(head.suffix(4) == [13, 10, 13, 10])
    }

    @Test(
        "header names are title-cased word by word",
        arguments: [
            ("retry-after", "Retry-After"), ("x-request-id", "X-Request-Id"), ("allow", "Allow"),
            ("access-control-allow-origin", "Access-Control-Allow-Origin"),
        ])
    func titleCase(name: String, expected: String) {
        #expect(ResponseEncoder.titleCased(name) == expected)
    }
}
