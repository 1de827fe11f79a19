/// Turns request bytes into Python `str` code points the way `json.loads(bytes)` does.
///
/// Python runs `json.detect_encoding` and then `bytes.decode(encoding, "surrogatepass")`, so besides
/// UTF-8 (with an optional BOM) it silently accepts UTF-16/UTF-32 bodies and encoded lone surrogates.
/// Code points are kept as `UInt32` because they may be surrogates, and positions must count them.
enum TextDecoding {
    /// The encodings `json.detect_encoding` can choose.
    enum Encoding: Equatable {
        case utf8, utf8Sig, utf16, utf16LE, utf16BE, utf32, utf32LE, utf32BE
    }

    /// Mirrors `json.detect_encoding`, which sniffs BOMs and NUL-byte patterns in the first four bytes.
    static func detect(_ b: [UInt8]) -> Encoding {
        if b.starts(with: [0x00, 0x00, 0xFE, 0xFF]) || b.starts(with: [0xFF, 0xFE, 0x00, 0x00]) { return .utf32 }
        if b.starts(with: [0xFE, 0xFF]) || b.starts(with: [0xFF, 0xFE]) { return .utf16 }
        if b.starts(with: [0xEF, 0xBB, 0xBF]) { return .utf8Sig }
        if b.count >= 4 {
            if b[0] == 0 { return b[1] != 0 ? .utf16BE : .utf32BE }
            if b[1] == 0 { return (b[2] != 0 || b[3] != 0) ? .utf16LE : .utf32LE }
        } else if b.count == 2 {
            if b[0] == 0 { return .utf16BE }
            if b[1] == 0 { return .utf16LE }
        }
        return .utf8
    }

    /// Decodes bytes to code points, throwing `.invalidUTF8` wherever Python raises UnicodeDecodeError.
    static func decode(_ bytes: [UInt8]) throws(PythonJSONError) -> [UInt32] {
        switch detect(bytes) {
        case .utf8: return try utf8(bytes[...])
        case .utf8Sig: return try utf8(bytes[3...])
        case .utf16:
            // The "utf-16" codec consumes the BOM and uses it to pick the byte order.
            return try utf16(bytes[2...], bigEndian: bytes[0] == 0xFE)
        case .utf16LE: return try utf16(bytes[...], bigEndian: false)
        case .utf16BE: return try utf16(bytes[...], bigEndian: true)
        case .utf32: return try utf32(bytes[4...], bigEndian: bytes[0] == 0x00)
        case .utf32LE: return try utf32(bytes[...], bigEndian: false)
        case .utf32BE: return try utf32(bytes[...], bigEndian: true)
        }
    }

    /// Strict UTF-8 as CPython decodes it, except that 3-byte encoded surrogates pass (surrogatepass).
    static func utf8(_ b: ArraySlice<UInt8>) throws(PythonJSONError) -> [UInt32] {
        var out: [UInt32] = []
        out.reserveCapacity(b.count)
        var i = b.startIndex
        let end = b.endIndex
        while i < end {
            let b0 = b[i]
            if b0 < 0x80 {
                out.append(UInt32(b0))
                i += 1
                continue
            }
            let need: Int
            var lo: UInt8 = 0x80
            var hi: UInt8 = 0xBF
            switch b0 {
            case 0xC2...0xDF: need = 1
            case 0xE0: need = 2; lo = 0xA0
            case 0xE1...0xEF: need = 2  // 0xED + A0..BF are surrogates, allowed by surrogatepass
            case 0xF0: need = 3; lo = 0x90
            case 0xF1...0xF3: need = 3
            case 0xF4: need = 3; hi = 0x8F
            default: throw .invalidUTF8
            }
            guard end - i > need, (lo...hi).contains(b[i + 1]) else { throw .invalidUTF8 }
            var cp = UInt32(b0) & (need == 1 ? 0x1F : need == 2 ? 0x0F : 0x07)
            for k in 1...need {
                let c = b[i + k]
                guard c & 0xC0 == 0x80 else { throw .invalidUTF8 }
                cp = cp << 6 | UInt32(c & 0x3F)
            }
            out.append(cp)
            i += need + 1
        }
        return out
    }

    /// UTF-16 with surrogatepass: valid pairs are joined, lone surrogates are kept as-is.
    static func utf16(_ b: ArraySlice<UInt8>, bigEndian: Bool) throws(PythonJSONError) -> [UInt32] {
        guard b.count % 2 == 0 else { throw .invalidUTF8 }
        var units: [UInt32] = []
        units.reserveCapacity(b.count / 2)
        var i = b.startIndex
        while i < b.endIndex {
            let (x, y) = (UInt32(b[i]), UInt32(b[i + 1]))
            units.append(bigEndian ? x << 8 | y : y << 8 | x)
            i += 2
        }
        var out: [UInt32] = []
        out.reserveCapacity(units.count)
        var k = 0
        while k < units.count {
            let u = units[k]
            if (0xD800...0xDBFF).contains(u), k + 1 < units.count, (0xDC00...0xDFFF).contains(units[k + 1]) {
                out.append(0x10000 + ((u - 0xD800) << 10) + (units[k + 1] - 0xDC00))
                k += 2
            } else {
                out.append(u)
                k += 1
            }
        }
        return out
    }

    /// UTF-32 with surrogatepass: any value up to U+10FFFF is accepted.
    static func utf32(_ b: ArraySlice<UInt8>, bigEndian: Bool) throws(PythonJSONError) -> [UInt32] {
        guard b.count % 4 == 0 else { throw .invalidUTF8 }
        var out: [UInt32] = []
        out.reserveCapacity(b.count / 4)
        var i = b.startIndex
        while i < b.endIndex {
            let q = (0..<4).map { UInt32(b[i + $0]) }
            let cp = bigEndian ? q[0] << 24 | q[1] << 16 | q[2] << 8 | q[3] : q[3] << 24 | q[2] << 16 | q[1] << 8 | q[0]
            guard cp <= 0x10FFFF else { throw .invalidUTF8 }
            out.append(cp)
            i += 4
        }
        return out
    }
}
