/// Entry point for parsing request bodies exactly like CPython 3.11's `json.loads(bytes)`.
public enum PythonJSON {
    /// Python 3.11's default `sys.get_int_max_str_digits()`; longer int literals raise ValueError.
    static let maxIntegerDigits = 4300

    /// Parses a request body, reproducing `json.loads` results, error messages and error positions.
    ///
    /// - Parameters:
    ///   - bytes: The raw body. Encoding is sniffed like `json.detect_encoding` (UTF-8 with optional BOM,
    ///     or UTF-16/32), so `JSONDecodeError.position` counts code points of the decoded text.
    ///   - maxDepth: How many arrays/objects may be nested; entering one more throws `.tooDeep`.
    /// - Throws: `.decode` for anything Python reports as `JSONDecodeError`; `.invalidUTF8`,
    ///   `.tooDeep` and `.integerTooLong` for the non-JSON exceptions FastAPI maps to HTTP 400.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = 64) throws(PythonJSONError) -> JSONValue {
        let text = try TextDecoding.decode(bytes)
        var scanner = Scanner(text: text, maxDepth: maxDepth)
        return try scanner.parseDocument()
    }
}

/// A recursive-descent port of `_json.c`'s `scan_once_unicode` plus `JSONDecoder.decode`.
///
/// It works on code points so every index is directly a Python `str` position.
struct Scanner {
    let text: [UInt32]
    let maxDepth: Int
    var depth = 0

    /// Creates a scanner over decoded code points.
    init(text: [UInt32], maxDepth: Int) {
        self.text = text
        self.maxDepth = maxDepth
    }

    /// Returns the code point at `i`, or a sentinel that matches nothing, so bounds checks stay implicit.
    @inline(__always) func at(_ i: Int) -> UInt32 {
        i < text.count ? text[i] : 0xFFFF_FFFF
    }

    /// Advances past `[ \t\n\r]*`, the only whitespace Python's decoder (and `_json.c`) skip.
    @inline(__always) func skipWhitespace(_ i: Int) -> Int {
        var i = i
        while i < text.count {
            let c = text[i]
            guard c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D else { break }
            i += 1
        }
        return i
    }

    /// Builds the CPython error value for `msg` at `pos`.
    func fail(_ msg: String, _ pos: Int) -> PythonJSONError {
        .decode(JSONDecodeError(message: msg, position: pos))
    }

    /// Mirrors `JSONDecoder.decode`: skip whitespace, scan one value, then only whitespace may remain.
    mutating func parseDocument() throws(PythonJSONError) -> JSONValue {
        let (value, end) = try scanValue(skipWhitespace(0))
        let rest = skipWhitespace(end)
        guard rest == text.count else { throw fail("Extra data", rest) }
        return value
    }

    /// Mirrors `scan_once_unicode`; a failed match is Python's StopIteration, i.e. "Expecting value".
    mutating func scanValue(_ i: Int) throws(PythonJSONError) -> (JSONValue, Int) {
        guard i < text.count else { throw fail("Expecting value", i) }
        switch text[i] {
        case 0x22:  // "
            let (s, end) = try scanString(i + 1)
            return (.string(s), end)
        case 0x7B, 0x5B:  // { [
            // Python checks recursion on entry, before looking at the contents.
            guard depth < maxDepth else { throw .tooDeep }
            depth += 1
            defer { depth -= 1 }
            return text[i] == 0x7B ? try scanObject(i + 1) : try scanArray(i + 1)
        case 0x6E where matches("null", i): return (.null, i + 4)
        case 0x74 where matches("true", i): return (.bool(true), i + 4)
        case 0x66 where matches("false", i): return (.bool(false), i + 5)
        case 0x4E where matches("NaN", i): return (.double(.nan), i + 3)
        case 0x49 where matches("Infinity", i): return (.double(.infinity), i + 8)
        case 0x2D where matches("-Infinity", i): return (.double(-.infinity), i + 9)
        default: return try scanNumber(i)
        }
    }

    /// Tests whether the ASCII `word` occurs at `i`.
    func matches(_ word: StaticString, _ i: Int) -> Bool {
        guard i + word.utf8CodeUnitCount <= text.count else { return false }
        let p = word.utf8Start
        for k in 0..<word.utf8CodeUnitCount where text[i + k] != UInt32(p[k]) { return false }
        return true
    }

    /// Mirrors `_parse_object_unicode` (3.11 has no "Illegal trailing comma" message; that arrived in 3.13).
    mutating func scanObject(_ start: Int) throws(PythonJSONError) -> (JSONValue, Int) {
        var object = JSONObject()
        var i = skipWhitespace(start)
        if at(i) == 0x7D { return (.object(object), i + 1) }
        while true {
            guard at(i) == 0x22 else { throw fail("Expecting property name enclosed in double quotes", i) }
            let (key, afterKey) = try scanString(i + 1)
            i = skipWhitespace(afterKey)
            guard at(i) == 0x3A else { throw fail("Expecting ':' delimiter", i) }
            let (value, afterValue) = try scanValue(skipWhitespace(i + 1))
            object[key] = value
            i = skipWhitespace(afterValue)
            if at(i) == 0x7D { return (.object(object), i + 1) }
            guard at(i) == 0x2C else { throw fail("Expecting ',' delimiter", i) }
            i = skipWhitespace(i + 1)
        }
    }

    /// Mirrors `_parse_array_unicode`; after a comma a missing value is reported as "Expecting value".
    mutating func scanArray(_ start: Int) throws(PythonJSONError) -> (JSONValue, Int) {
        var items: [JSONValue] = []
        var i = skipWhitespace(start)
        if at(i) == 0x5D { return (.array(items), i + 1) }
        while true {
            let (value, afterValue) = try scanValue(i)
            items.append(value)
            i = skipWhitespace(afterValue)
            if at(i) == 0x5D { return (.array(items), i + 1) }
            guard at(i) == 0x2C else { throw fail("Expecting ',' delimiter", i) }
            i = skipWhitespace(i + 1)
        }
    }

    /// Mirrors `_match_number_unicode`: `-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?` with backtracking
    /// for a dangling fraction or exponent, which then surfaces as "Extra data" or a delimiter error.
    func scanNumber(_ start: Int) throws(PythonJSONError) -> (JSONValue, Int) {
        @inline(__always) func isDigit(_ c: UInt32) -> Bool { c >= 0x30 && c <= 0x39 }
        var i = start
        if at(i) == 0x2D { i += 1 }
        if at(i) == 0x30 {
            i += 1
        } else if at(i) >= 0x31 && at(i) <= 0x39 {
            while isDigit(at(i)) { i += 1 }
        } else {
            throw fail("Expecting value", start)
        }
        let integerEnd = i
        var isFloat = false
        if at(i) == 0x2E && isDigit(at(i + 1)) {
            isFloat = true
            i += 2
            while isDigit(at(i)) { i += 1 }
        }
        if at(i) == 0x65 || at(i) == 0x45 {
            var j = i + 1
            if at(j) == 0x2D || at(j) == 0x2B { j += 1 }
            if isDigit(at(j)) {
                while isDigit(at(j)) { j += 1 }
                isFloat = true
                i = j
            }
        }
        let literal = String(decoding: text[start..<i].map { UInt8($0) }, as: UTF8.self)
        if isFloat {
            // Python's float() is correctly rounded and overflows to inf / underflows to 0, like strtod.
            return (.double(Double(literal) ?? .nan), i)
        }
        let negative = text[start] == 0x2D
        let digits = integerEnd - start - (negative ? 1 : 0)
        guard digits <= PythonJSON.maxIntegerDigits else { throw .integerTooLong(digits: digits) }
        return (.integer(literal == "-0" ? "0" : literal), i)
    }
}
