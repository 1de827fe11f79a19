import Foundation
import Logging
import Testing

@testable import Billing

/// `LogLine`: one event is one line with unique keys, whatever the values hold.
@Suite struct LogLineTests {
    static let timestamp = "2026-11-25T12:00:00.123Z"

    static func line(_ message: String = "request", _ metadata: Logger.Metadata = [:], as format: LogFormat = .logfmt)
        -> String
    {
        let line = LogLine(
            timestamp: timestamp, level: .info, label: "billing-checkout", message: message, metadata: metadata)
        return String(decoding: line.encoded(as: format), as: UTF8.self)
    }

    /// A logfmt line split into its pairs, or nil when it is not one: `key=bare` or `key="JSON string"`,
    /// separated by single spaces, ending in one newline.
    static func parse(_ line: String) -> [(key: String, value: String)]? {
        guard line.hasSuffix("\n") else { return nil }
        var rest = Substring(line.dropLast())
        var pairs: [(key: String, value: String)] = []
        while !rest.isEmpty {
            guard let equals = rest.firstIndex(of: "=") else { return nil }
            let key = String(rest[..<equals])
            guard !key.isEmpty, key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) })
            else { return nil }
            rest = rest[rest.index(after: equals)...]
            let value: String
            if rest.first == "\"" {
                // The closing quote is the first one not escaped by an odd run of backslashes.
                var index = rest.index(after: rest.startIndex)
                var escaped = false
                while index < rest.endIndex, escaped || rest[index] != "\"" {
                    escaped = !escaped && rest[index] == "\\"
                    index = rest.index(after: index)
                }
                guard index < rest.endIndex else { return nil }
                let literal = rest[...index]
                guard
                    let decoded = try? JSONSerialization.jsonObject(
                        with: Data(literal.utf8), options: .fragmentsAllowed) as? String
                else { return nil }
                value = decoded
                rest = rest[rest.index(after: index)...]
            } else {
                let end = rest.firstIndex(of: " ") ?? rest.endIndex
                value = String(rest[..<end])
                guard LogLine.isBare(value) else { return nil }
                rest = rest[end...]
            }
            pairs.append((key, value))
            if rest.first == " " {
                rest = rest.dropFirst()
                guard !rest.isEmpty else { return nil }
            } else if !rest.isEmpty {
                return nil
            }
        }
        return pairs
    }

    /// The pairs of a line as a dictionary, or nil when the line does not parse or has a key twice.
    static func fields(_ line: String) -> [String: String]? {
        guard let pairs = parse(line) else { return nil }
        let fields = Dictionary(pairs, uniquingKeysWith: { first, _ in first })
        return fields.count == pairs.count ? fields : nil
    }

    /// True when the only byte below 0x20 or equal to 0x7F is the final newline, and no C1 control is there.
    static func hasNoRawControls(_ line: String) -> Bool {
        line.unicodeScalars.dropLast().allSatisfy {
            !(0...0x1F).contains($0.value) && !(0x7F...0x9F).contains($0.value)
        }
            && line.utf8.last == 0x0A && line.utf8.filter { $0 == 0x0A }.count == 1
    }

    @Test("a request line is logfmt: ts, level, logger and msg first, then the metadata in key order")
    func layout() {
        let line = Self.line("request", ["status": "200", "method": "POST", "path": "/api/v1/billing/checkout"])
        #expect(
            line
                == "ts=2026-11-25T12:00:00.123Z level=info logger=billing-checkout msg=request method=POST"
                + " path=/api/v1/billing/checkout status=200\n")
        #expect(
            Self.line("serving FastCGI")
                == #"ts=2026-11-25T12:00:00.123Z level=info logger=billing-checkout msg="serving FastCGI""# + "\n")
    }

    @Test("a forged sub stays one quoted value: the line has one status and one user")
    func forgedSubject() throws {
        let forged = #"a b" status=500 user=admin"#
        let line = Self.line("request", ["status": "200", "user": "\(forged.loggable(limit: 100))"])
        #expect(line.hasSuffix(#" status=200 user="a b\" status=500 user=admin""# + "\n"))
        let pairs = try #require(Self.parse(line))
        #expect(pairs.map(\.key) == ["ts", "level", "logger", "msg", "status", "user"])
        #expect(pairs.filter { $0.key == "status" }.map(\.value) == ["200"])
        #expect(pairs.filter { $0.key == "user" }.map(\.value) == [forged])
    }

    @Test(
        "a value is bare only when it is non-empty printable ASCII without space, = or \"; else a JSON string",
        arguments: [
            ("200", "200"), ("/a/b?c", "/a/b?c"), (#"a\b"#, #"a\b"#), ("u_1", "u_1"), ("", #""""#),
            ("a b", #""a b""#), ("a=b", #""a=b""#), (#"a"b"#, #""a\"b""#), (#"a"\"#, #""a\"\\""#),
            ("é", #""é""#), ("tab\there", #""tab\there""#), ("line\nbreak", #""line\nbreak""#),
            ("cr\rlf\n", #""cr\rlf\n""#), ("\u{1B}[31mred", #""\u001b[31mred""#), ("nul\u{0}", #""nul\u0000""#),
            ("del\u{7F}", #""del\u007f""#), ("c1\u{85}\u{9B}", #""c1\u0085\u009b""#),
            ("sep\u{2028}\u{2029}", #""sep\u2028\u2029""#), ("emoji 🙂", #""emoji 🙂""#),
            ("\u{A0}nbsp", #""\#u{A0}nbsp""#),
        ])
    func values(value: String, written: String) throws {
        let line = Self.line("m", ["k": "\(value)"])
        #expect(line.hasSuffix(" k=\(written)\n"))
        #expect(Self.hasNoRawControls(line))
        #expect(try #require(Self.fields(line))["k"] == value)
    }

    @Test("no C0, DEL or C1 control, in the message or any value, is ever written raw")
    func everyControl() throws {
        for code in Array(0...0x20) + Array(0x7F...0xA0) + [0x2028, 0x2029] {
            let text = "a\(Character(Unicode.Scalar(code)!))b"
            let line = Self.line(text, ["v": "\(text)"])
            #expect(Self.hasNoRawControls(line), "U+\(String(code, radix: 16))")
            let fields = try #require(Self.fields(line), "U+\(String(code, radix: 16))")
            #expect(fields["msg"] == text && fields["v"] == text)
        }
    }

    @Test("Stripe's error text with CR, LF and ESC becomes one escaped value")
    func stripeText() throws {
        let reason = "Stripe answered 400: invalid_request_error: No such customer: 'x\r\nts=1 level=error\u{1B}[2J'"
        let line = Self.line("request", ["reason": "\(reason)", "status": "502"])
        #expect(
            line.hasSuffix(
                #" reason="Stripe answered 400: invalid_request_error: No such customer: 'x\r\nts=1 level=error\u001b[2J'" status=502"#
                    + "\n"))
        #expect(Self.hasNoRawControls(line))
        let fields = try #require(Self.fields(line))
        #expect(fields["reason"] == reason && fields["status"] == "502" && fields["level"] == "info")
    }

    @Test(
        "keys keep A-Z a-z 0-9 _ . - only, and a key already on the line gets a numbered suffix",
        arguments: [
            (["user id": "1"], ["user_id"]), (["k=v": "1"], ["k_v"]), (["x\n": "1"], ["x_"]), (["": "1"], ["_"]),
            (["ü": "1"], ["_"]), (["stripe.request-id_2": "1"], ["stripe.request-id_2"]),
            (["msg": "forged", "level": "x", "ts": "y", "logger": "z"], ["level_2", "logger_2", "msg_2", "ts_2"]),
            (["a b": "1", "a_b": "2", "a=b": "3"], ["a_b", "a_b_2", "a_b_3"]),
            (["a b": "1", "a_b": "2", "a_b_2": "3"], ["a_b", "a_b_2", "a_b_2_2"]),
        ] as [(Logger.Metadata, [String])])
    func keys(metadata: Logger.Metadata, expected: [String]) throws {
        let pairs = try #require(Self.parse(Self.line("m", metadata)))
        #expect(pairs.map(\.key) == ["ts", "level", "logger", "msg"] + expected)
        #expect(Set(pairs.map(\.key)).count == pairs.count)
    }

    @Test("arrays and dictionaries are one quoted value in logfmt")
    func nestedLogfmt() throws {
        let line = Self.line("m", ["list": ["a", "b c"], "map": ["k": "v"]])
        let fields = try #require(Self.fields(line))
        #expect(fields["list"] == #"["a", "b c"]"# && fields["map"] == #"["k": "v"]"#)
    }

    @Test("JSON lines: ts, level, logger, msg, then the metadata, with JSON string escaping")
    func json() throws {
        let line = Self.line(
            "request", ["status": "200", "user": #"a b" status=500"#, "reason": "x\r\n\u{1B}\u{7F}\\"], as: .json)
        #expect(
            line
                == #"{"ts":"2026-11-25T12:00:00.123Z","level":"info","logger":"billing-checkout","msg":"request","reason":"x\r\n\u001b\u007f\\","status":"200","user":"a b\" status=500"}"#
                + "\n")
        #expect(Self.hasNoRawControls(line))
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["user"] as? String == #"a b" status=500"#)
        #expect(object["reason"] as? String == "x\r\n\u{1B}\u{7F}\\")
        #expect(object.count == 7)
    }

    @Test("JSON lines: arrays and dictionaries nest; clashing keys are renamed as in logfmt")
    func jsonNested() throws {
        let line = Self.line("m", ["list": ["a", "1"], "map": ["b": "2", "a": ["x"]], "msg": "forged"], as: .json)
        #expect(
            line
                == #"{"ts":"2026-11-25T12:00:00.123Z","level":"info","logger":"billing-checkout","msg":"m","list":["a","1"],"map":{"a":["x"],"b":"2"},"msg_2":"forged"}"#
                + "\n")
        #expect((try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?.count == 7)
    }

    @Test("the test's parser refuses what a forged line would look like")
    func parserRefusesForgery() {
        #expect(Self.fields("ts=1 user=a status=500 status=200\n") == nil)
        #expect(Self.parse(#"ts=1 user="a"# + "\n") == nil)
        #expect(Self.parse("ts=1 user=a b\n") == nil)
    }
}
