import Foundation
import Testing

/// The binary's log lines: whatever a token or Stripe puts in a value, one request is one line with unique keys.
@Suite("Log lines end to end")
struct LogLineEndToEndTests {
    /// The pairs of a logfmt line (`key=bare` or `key="JSON string"`), or nil when it is not one.
    static func logfmt(_ line: Substring) -> [(key: String, value: String)]? {
        var rest = line
        var pairs: [(key: String, value: String)] = []
        while let equals = rest.firstIndex(of: "=") {
            let key = String(rest[..<equals])
            rest = rest[rest.index(after: equals)...]
            var value: String
            if rest.first == "\"" {
                var index = rest.index(after: rest.startIndex)
                var escaped = false
                while index < rest.endIndex, escaped || rest[index] != "\"" {
                    escaped = !escaped && rest[index] == "\\"
                    index = rest.index(after: index)
                }
                guard index < rest.endIndex,
                    let decoded = try? JSONSerialization.jsonObject(
                        with: Data(rest[...index].utf8), options: .fragmentsAllowed) as? String
                else { return nil }
                value = decoded
                rest = rest[rest.index(after: index)...]
            } else {
                let end = rest.firstIndex(of: " ") ?? rest.endIndex
                value = String(rest[..<end])
                guard !value.contains("\"") else { return nil }
                rest = rest[end...]
            }
            pairs.append((key, value))
            guard rest.isEmpty || rest.first == " " else { return nil }
            rest = rest.dropFirst()
        }
        return rest.isEmpty ? pairs : nil
    }

    /// The one `msg=request` line of a CGI run, as a dictionary; fails the test when there is not exactly one
    /// or a key repeats.
    static func requestLine(_ stderr: String) throws -> [String: String] {
        let lines = stderr.split(separator: "\n").filter { $0.contains("msg=request") }
        try #require(lines.count == 1, "\(stderr)")
        let pairs = try #require(logfmt(lines[0]), "\(lines[0])")
        let fields = Dictionary(pairs, uniquingKeysWith: { first, _ in first })
        #expect(fields.count == pairs.count, "a key repeats in \(lines[0])")
        return fields
    }

    /// True when stderr has no control byte but the line ends, and no C1 control.
    static func hasNoRawControls(_ stderr: String) -> Bool {
        stderr.unicodeScalars.allSatisfy {
            $0 == "\n" || !((0...0x1F).contains($0.value) || (0x7F...0x9F).contains($0.value))
        }
    }

    @Test("a sub that forges fields stays one value: the line has one status and one user")
    func forgedSubject() async throws {
        let harness = try await CheckoutHarness()
        let forged = #"a b" status=500 user=admin"#
        let (response, process) = try await harness.cgi(headers: harness.authorized(try await Tokens.make(sub: forged)))
        let fields = try Self.requestLine(process.stderrText)
        #expect(fields["status"] == String(response.status))
        #expect(fields["user"] == forged)
        #expect(fields["level"] == "info" && fields["logger"] == "billing-checkout" && fields["ts"] != nil)
    }

    @Test("Stripe's error text with CR, LF and ESC reaches the log escaped, on the request's one line")
    func stripeControlCharacters() async throws {
        let harness = try await CheckoutHarness()
        let customer = "x\r\nts=forged level=error\u{1B}[2J"
        let (response, process) = try await harness.cgi(
            headers: harness.authorized(try await Tokens.make(customer: customer)))
        #expect(response.status == 502)
        #expect(Self.hasNoRawControls(process.stderrText))
        let fields = try Self.requestLine(process.stderrText)
        #expect(fields["status"] == "502" && fields["level"] == "error")
        #expect(fields["reason"]?.contains("No such customer: '\(customer)'") == true, "\(fields)")
    }

    @Test("LOG_FORMAT=json writes one JSON object per line, the forged sub one string in it")
    func jsonLines() async throws {
        let harness = try await CheckoutHarness()
        let forged = #"a b" status=500 user=admin"# + "\r\n\u{1B}"
        let (response, process) = try await harness.cgi(
            headers: harness.authorized(try await Tokens.make(sub: forged)), settings: ["LOG_FORMAT": "json"])
        #expect(Self.hasNoRawControls(process.stderrText))
        let objects = try process.stderrText.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any], "\($0)")
        }
        let request = try #require(objects.first { $0["msg"] as? String == "request" })
        #expect(request["status"] as? String == String(response.status))
        // The user id is made loggable (printable ASCII) before it is logged; the quote survives, escaped.
        #expect(request["user"] as? String == #"a b" status=500 user=admin???"#)
        #expect(request["logger"] as? String == "billing-checkout")
    }
}
