/// Encodes form fields as `application/x-www-form-urlencoded`, the body format of Stripe's API.
enum FormEncoder {
    /// `key=value&…`, with every byte outside the unreserved set percent-encoded, except the brackets
    /// of Stripe's key notation, which are left readable as Stripe's own libraries leave them.
    static func encode(_ fields: [(String, String)]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(fields.reduce(0) { $0 + $1.0.utf8.count + $1.1.utf8.count * 3 + 2 })
        for (index, (key, value)) in fields.enumerated() {
            if index > 0 { out.append(UInt8(ascii: "&")) }
            append(key, to: &out, keepBrackets: true)
            out.append(UInt8(ascii: "="))
            append(value, to: &out, keepBrackets: false)
        }
        return out
    }

    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    private static func append(_ text: String, to out: inout [UInt8], keepBrackets: Bool) {
        for byte in text.utf8 {
            if isUnreserved(byte) || (keepBrackets && (byte == UInt8(ascii: "[") || byte == UInt8(ascii: "]"))) {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            }
        }
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: "~"):
            true
        default: false
        }
    }
}
