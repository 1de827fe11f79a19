extension Scanner {
    /// Mirrors `scanstring_unicode` (strict mode): `start` is just after the opening quote.
    ///
    /// Returns the string and the index after the closing quote. Lone surrogates, which Python keeps
    /// in its `str` but Swift cannot represent, become U+FFFD.
    func scanString(_ start: Int) throws(PythonJSONError) -> (String, Int) {
        let begin = start - 1
        let len = text.count
        var out: [UInt8] = []
        var end = start
        while true {
            // Scan a run of literal characters up to the next quote or backslash.
            var next = end
            var c: UInt32 = 0
            while next < len {
                c = text[next]
                if c == 0x22 || c == 0x5C { break }
                if c <= 0x1F { throw fail("Invalid control character at", next) }
                Self.appendUTF8(c, to: &out)
                next += 1
            }
            guard next < len else { throw fail("Unterminated string starting at", begin) }
            next += 1
            if c == 0x22 { return (String(decoding: out, as: UTF8.self), next) }
            guard next < len else { throw fail("Unterminated string starting at", begin) }
            let escape = text[next]
            if escape != 0x75 {  // not \u
                end = next + 1
                let decoded: UInt8
                switch escape {
                case 0x22, 0x5C, 0x2F: decoded = UInt8(escape)
                case 0x62: decoded = 0x08
                case 0x66: decoded = 0x0C
                case 0x6E: decoded = 0x0A
                case 0x72: decoded = 0x0D
                case 0x74: decoded = 0x09
                default: throw fail("Invalid \\escape", end - 2)
                }
                out.append(decoded)
                continue
            }
            next += 1
            end = next + 4
            // CPython demands at least one character after the four digits (`end >= len` fails).
            guard end < len else { throw fail("Invalid \\uXXXX escape", next - 1) }
            guard var scalar = hex4(at: next) else { throw fail("Invalid \\uXXXX escape", end - 5) }
            next = end
            // A high surrogate may pair with an immediately following \uXXXX low surrogate, again only
            // when a character follows it (`end + 6 < len`); otherwise the second escape is rescanned.
            if (0xD800...0xDBFF).contains(scalar), end + 6 < len, text[next] == 0x5C, text[next + 1] == 0x75 {
                guard let low = hex4(at: next + 2) else { throw fail("Invalid \\uXXXX escape", end + 1) }
                if (0xDC00...0xDFFF).contains(low) {
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    end += 6
                }
            }
            Self.appendUTF8(scalar, to: &out)
        }
    }

    /// Decodes four hex digits at `i`, or returns nil if any is not `[0-9a-fA-F]`.
    func hex4(at i: Int) -> UInt32? {
        var value: UInt32 = 0
        for k in i..<(i + 4) {
            let d = text[k]
            let nibble: UInt32
            switch d {
            case 0x30...0x39: nibble = d - 0x30
            case 0x61...0x66: nibble = d - 0x61 + 10
            case 0x41...0x46: nibble = d - 0x41 + 10
            default: return nil
            }
            value = value << 4 | nibble
        }
        return value
    }

    /// Appends a code point as UTF-8, substituting U+FFFD for surrogates since Swift strings reject them.
    @inline(__always) static func appendUTF8(_ cp: UInt32, to out: inout [UInt8]) {
        switch cp {
        case 0..<0x80:
            out.append(UInt8(cp))
        case 0x80..<0x800:
            out.append(UInt8(0xC0 | cp >> 6))
            out.append(UInt8(0x80 | cp & 0x3F))
        case 0xD800...0xDFFF:
            out.append(contentsOf: [0xEF, 0xBF, 0xBD])
        case 0x800..<0x10000:
            out.append(UInt8(0xE0 | cp >> 12))
            out.append(UInt8(0x80 | cp >> 6 & 0x3F))
            out.append(UInt8(0x80 | cp & 0x3F))
        default:
            out.append(UInt8(0xF0 | cp >> 18))
            out.append(UInt8(0x80 | cp >> 12 & 0x3F))
            out.append(UInt8(0x80 | cp >> 6 & 0x3F))
            out.append(UInt8(0x80 | cp & 0x3F))
        }
    }
}
