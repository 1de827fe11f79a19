extension JSONValue {
    /// Serializes like `json.dumps(v, ensure_ascii=False, separators=(",", ":"))`.
    ///
    /// Non-finite doubles become `null`: Python with `allow_nan=False` would raise instead, and callers
    /// only echo values back, so `null` is the least surprising stand-in.
    public func serialized() -> String {
        String(decoding: serializedBytes(), as: UTF8.self)
    }

    /// Serializes to UTF-8 bytes; same output as `serialized()` without the final String copy.
    public func serializedBytes() -> [UInt8] {
        var out: [UInt8] = []
        write(to: &out)
        return out
    }

    /// Appends this value's serialization to `out`.
    func write(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .string(let s): Self.writeString(s, to: &out)
        case .integer(let digits): out.append(contentsOf: digits.utf8)
        case .double(let d): out.append(contentsOf: (PythonFloat.repr(d) ?? "null").utf8)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (n, item) in items.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                item.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            out.append(UInt8(ascii: "{"))
            for n in 0..<object.count {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                Self.writeString(object.keys[n], to: &out)
                out.append(UInt8(ascii: ":"))
                object.values[n].write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Writes a quoted string with Python's non-ASCII-preserving escapes (`\n`-style or lowercase `\u00xx`).
    ///
    /// Working on UTF-8 bytes is safe because every byte of a multi-byte sequence is >= 0x80.
    static func writeString(_ s: String, to out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x08: out.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            case 0..<0x20:
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// Formats doubles exactly like Python's `repr(float)`.
public enum PythonFloat {
    /// Returns Python's `repr(x)`, or nil for NaN and infinities (which `allow_nan=False` rejects).
    ///
    /// Both Swift's `description` and Python's repr pick the shortest round-tripping digits (closest on
    /// ties), but they switch to exponent notation at different magnitudes, so only the digits are
    /// borrowed from Swift and the layout is redone Python-style: exponent form when the decimal
    /// exponent is < -4 or >= 16, `.0` appended to integral values, and at least two exponent digits.
    public static func repr(_ x: Double) -> String? {
        guard x.isFinite else { return nil }
        if x == 0 { return x.sign == .minus ? "-0.0" : "0.0" }
        var (digits, pointPos) = shortestDigits(x.magnitude)
        // Normalise to no leading/trailing zeros; pointPos counts digits before the decimal point.
        while digits.first == UInt8(ascii: "0") { digits.removeFirst(); pointPos -= 1 }
        while digits.last == UInt8(ascii: "0") { digits.removeLast() }
        let sign = x.sign == .minus ? "-" : ""
        let text = { (bytes: ArraySlice<UInt8>) in String(decoding: bytes, as: UTF8.self) }
        let exponent = pointPos - 1
        if exponent < -4 || exponent >= 16 {
            let mantissa = digits.count == 1 ? text(digits[...]) : text(digits[..<1]) + "." + text(digits[1...])
            let magnitude = abs(exponent)
            return sign + mantissa + "e" + (exponent < 0 ? "-" : "+") + (magnitude < 10 ? "0" : "") + String(magnitude)
        }
        if pointPos <= 0 {
            return sign + "0." + String(repeating: "0", count: -pointPos) + text(digits[...])
        }
        if pointPos >= digits.count {
            return sign + text(digits[...]) + String(repeating: "0", count: pointPos - digits.count) + ".0"
        }
        return sign + text(digits[..<pointPos]) + "." + text(digits[pointPos...])
    }

    /// Extracts the shortest round-trip digit string and decimal point position from Swift's description.
    static func shortestDigits(_ x: Double) -> (digits: [UInt8], pointPos: Int) {
        let description = Array(x.description.utf8)
        var mantissa = description[...]
        var exponent = 0
        if let e = description.firstIndex(where: { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
            mantissa = description[..<e]
            exponent = Int(String(decoding: description[(e + 1)...], as: UTF8.self)) ?? 0
        }
        let dot = mantissa.firstIndex(of: UInt8(ascii: ".")) ?? mantissa.endIndex
        let integerPart = mantissa[..<dot]
        let fraction = dot < mantissa.endIndex ? mantissa[(dot + 1)...] : []
        return (Array(integerPart) + Array(fraction), integerPart.count + exponent)
    }
}
