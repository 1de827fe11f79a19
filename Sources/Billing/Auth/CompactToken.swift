/// A compact JWS (`header.payload.signature`) split and decoded once: the header fields the verifier checks,
/// the claims, and what the signature covers.
///
/// jwt-kit checks the signature (`JWTAlgorithm.verify`); decoding here instead of in jwt-kit's parser saves
/// decoding the header and claims a second and third time through `JSONDecoder` on every request.
struct CompactToken {
    /// The header's `alg`, when it is a string.
    let algorithm: String?
    /// The header's `kid`, when it is a string.
    let keyID: String?
    /// Whether the header has a `crit` member, whatever its value (RFC 7515 §4.1.11).
    ///
    /// `crit` lists extensions the recipient must understand or else refuse the token; none is understood here,
    /// so any token that has one, well-formed or not, is refused.
    let hasCriticalHeader: Bool
    let claims: TokenClaims
    /// `header.payload` as sent: the bytes the signature signs.
    let signingInput: ArraySlice<UInt8>
    let signature: [UInt8]

    /// Why a token could not be decoded.
    enum Failure: Error, Equatable {
        case notThreeParts
        case notBase64URL
        case headerNotAJSONObject
        case claimsNotAJSONObject
    }

    init(_ token: [UInt8]) throws(Failure) {
        let dots = token.indices.filter { token[$0] == UInt8(ascii: ".") }
        guard dots.count == 2 else { throw .notThreeParts }
        let headerPart = token[..<dots[0]]
        let payloadPart = token[(dots[0] + 1)..<dots[1]]
        let signaturePart = token[(dots[1] + 1)...]
        guard let headerBytes = Base64URL.decode(headerPart), let payloadBytes = Base64URL.decode(payloadPart),
            let signature = Base64URL.decode(signaturePart)
        else { throw .notBase64URL }
        guard case .object(let header)? = try? PythonJSON.parse(headerBytes) else { throw .headerNotAJSONObject }
        guard case .object(let payload)? = try? PythonJSON.parse(payloadBytes) else { throw .claimsNotAJSONObject }
        if case .string(let algorithm)? = header["alg"] { self.algorithm = algorithm } else { self.algorithm = nil }
        if case .string(let keyID)? = header["kid"] { self.keyID = keyID } else { self.keyID = nil }
        self.hasCriticalHeader = header["crit"] != nil
        var values: [String: TokenClaims.Value] = [:]
        for (name, value) in payload.entries {
            values[name] = TokenClaims.Value(value)
        }
        self.claims = TokenClaims(values: values)
        self.signingInput = token[..<dots[1]]
        self.signature = signature
    }
}

extension TokenClaims.Value {
    /// The shapes the endpoint reads, as `init(from:)` reduces a decoded claim.
    init(_ value: JSONValue) {
        switch value {
        case .string(let string): self = .string(string)
        case .bool(let bool): self = .bool(bool)
        case .integer(let digits):
            if let number = Double(digits), number.isFinite { self = .number(number) } else { self = .other }
        case .double(let number) where number.isFinite: self = .number(number)
        case .array(let items):
            var strings: [String] = []
            for item in items {
                guard case .string(let string) = item else {
                    self = .other
                    return
                }
                strings.append(string)
            }
            self = .strings(strings)
        default: self = .other
        }
    }
}

/// Base64url without padding (RFC 7515 §2), as JWS uses it.
enum Base64URL {
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        for (value, character) in alphabet.enumerated() { table[Int(character)] = UInt8(value) }
        return table
    }()

    /// The decoded bytes, or nil for a character outside the alphabet or an impossible length.
    static func decode(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        guard text.count % 4 != 1 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for character in text {
            let value = values[Int(character)]
            guard value != 0xFF else { return nil }
            accumulator = (accumulator << 6 | UInt32(value)) & 0xFFFF
            bits += 6
            if bits >= 8 {
                bits -= 8
                bytes.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        // Leftover bits must be zero (RFC 4648 §3.5: canonical encoding).
        guard accumulator & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return bytes
    }
}
