import Testing

@testable import Billing

/// Parses a UTF-8 literal, so tests read like the JSON they exercise.
func parse(_ text: String, maxDepth: Int = 64) throws(PythonJSONError) -> JSONValue {
    try PythonJSON.parse(Array(text.utf8), maxDepth: maxDepth)
}

/// Checks Python repr(float) formatting.
@Suite struct FloatFormattingTests {
    /// Python `repr(float)` outputs, including both sides of the exponent-notation thresholds.
    static let table: [(Double, String)] = [
        (1.0, "1.0"), (1e16, "1e+16"), (1.5e-7, "1.5e-07"), (9500000000000000.0, "9500000000000000.0"),
        (0.0001, "0.0001"), (1e-5, "1e-05"), (-0.0, "-0.0"), (0.0, "0.0"),
        (1.7976931348623157e308, "1.7976931348623157e+308"), (Double.leastNonzeroMagnitude, "5e-324"), (0.1, "0.1"),
        (1.0 / 3.0, "0.3333333333333333"), (1e22, "1e+22"), (1e15, "1000000000000000.0"),
        (123456789012345680.0, "1.2345678901234568e+17"), (-2.5e-5, "-2.5e-05"), (12345.678, "12345.678"),
    ]

    /// Formatting must follow Python repr, not Swift description, around the exponent thresholds.
    @Test(arguments: table)
    func matchesPythonRepr(_ value: Double, _ expected: String) {
        #expect(PythonFloat.repr(value) == expected)
        #expect(JSONValue.double(value).serialized() == expected)
    }

    /// NaN and infinities are documented to serialize as null since allow_nan=False would raise.
    @Test func nonFiniteSerializeAsNull() throws {
        #expect(try parse("[NaN,Infinity,-Infinity,1e400]").serialized() == "[null,null,null,null]")
    }
}

/// Checks parser behaviours the brief calls out explicitly.
@Suite struct ParsingTests {
    /// Duplicate keys behave like Python dict insertion.
    @Test func duplicateKeysKeepFirstPositionAndLastValue() throws {
        let value = try parse(#"{"a":1,"b":2,"a":3}"#)
        #expect(value.serialized() == #"{"a":3,"b":2}"#)
        #expect(value == .object(JSONObject([("a", .integer("3")), ("b", .integer("2"))])))
    }

    /// Canonically equivalent but distinct keys must stay separate, as in Python.
    @Test func keysCompareByScalarsNotCanonicalEquivalence() throws {
        // Python treats "e\u0301" and "\u00e9" as different keys.
        #expect(try parse("{\"e\u{301}\":1,\"\u{e9}\":2}").serialized() == "{\"e\u{301}\":1,\"\u{e9}\":2}")
        #expect(JSONValue.string("e\u{301}") != .string("\u{e9}"))
    }

    /// Nesting beyond maxDepth fails with the distinct tooDeep error.
    @Test func depthLimit() throws {
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(throws: Never.self) { try parse(ok) }
        #expect(throws: PythonJSONError.tooDeep) { try parse("[" + ok + "]") }
        #expect(throws: PythonJSONError.tooDeep) { try parse(#"{"a":[{"b":1}]}"#, maxDepth: 2) }
        // The limit fires on entry, even before Python would notice the missing brackets.
        #expect(throws: PythonJSONError.tooDeep) { try parse(String(repeating: "[", count: 65)) }
    }

    /// Undecodable bytes map to invalidUTF8, not a JSON decode error.
    @Test func invalidUTF8IsDistinct() {
        for bytes: [UInt8] in [
            [0xFF], [0x22, 0xC3, 0x22], [0x22, 0xC0, 0x80, 0x22], [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],
        ] {
            #expect(throws: PythonJSONError.invalidUTF8) { try PythonJSON.parse(bytes) }
        }
    }

    /// One UTF-8 BOM is stripped; a second one is ordinary text, as with utf-8-sig.
    @Test func byteOrderMark() throws {
        #expect(try PythonJSON.parse([0xEF, 0xBB, 0xBF] + Array(#" {"a":1} "#.utf8)).serialized() == #"{"a":1}"#)
        // Positions count from after the stripped BOM, like Python's utf-8-sig decode.
        #expect(throws: PythonJSONError.decode(JSONDecodeError(message: "Expecting value", position: 0))) {
            try PythonJSON.parse([0xEF, 0xBB, 0xBF, 0xEF, 0xBB, 0xBF, 0x31])
        }
    }

    /// NUL-byte patterns and UTF-16 BOMs select UTF-16 as json.detect_encoding does.
    @Test func detectsUTF16LikePython() throws {
        #expect(try PythonJSON.parse([0x31, 0x00]).serialized() == "1")
        #expect(try PythonJSON.parse([0xFE, 0xFF, 0x00, 0x5B, 0x00, 0x5D]).serialized() == "[]")
    }

    /// Lone surrogates, escaped or surrogatepass-encoded, become U+FFFD.
    @Test func loneSurrogatesBecomeReplacementCharacter() throws {
        #expect(try parse(#"["\ud800","\ud83d\ude00","\udc00x"]"#).serialized() == "[\"\u{FFFD}\",\"😀\",\"\u{FFFD}x\"]")
        #expect(try PythonJSON.parse([0x22, 0xED, 0xA0, 0x80, 0x22]) == .string("\u{FFFD}"))
    }

    /// Positions are code point offsets, so non-ASCII characters count once.
    @Test func errorPositionsCountCodePoints() {
        #expect(throws: PythonJSONError.decode(JSONDecodeError(message: "Expecting ',' delimiter", position: 6))) {
            try parse("[\"é😀\" 1]")
        }
    }

    /// Integers keep every digit, normalise -0, and respect the 4300-digit limit.
    @Test func integersStayExact() throws {
        #expect(try parse("-0") == .integer("0"))
        #expect(
            try parse("[123456789012345678901234567890,-0.0]").serialized() == "[123456789012345678901234567890,-0.0]")
        #expect(throws: PythonJSONError.integerTooLong(digits: 4301)) { try parse(String(repeating: "7", count: 4301)) }
    }

    /// Only quotes, backslashes and C0 controls are escaped on output.
    @Test func stringEscapingMatchesEnsureAsciiFalse() throws {
        let value = try parse(#""\u0000\u001f\u007f\/\b\f\n\r\t\"\\\u2028é""#)
        #expect(value.serialized() == "\"\\u0000\\u001f\u{7f}/\\b\\f\\n\\r\\t\\\"\\\\\u{2028}é\"")
    }
}
