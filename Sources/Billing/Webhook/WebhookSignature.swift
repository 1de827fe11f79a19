import Crypto
import Foundation

/// Verifies `Stripe-Signature` exactly as Stripe's own libraries do: `t=…,v1=…[,v1=…][,v0=…]`, an HMAC-SHA256
/// keyed with a `whsec_…` secret over `"{t}.{raw body}"` in lowercase hex, any `v1` may match, `v0` never
/// counts, and a `t` older than the tolerance is refused.
public struct WebhookSignature: Sendable {
    /// Every secret accepted: more than one while a secret is being rolled.
    let secrets: [Secret]
    /// How old a `t` may be, in seconds.
    let toleranceSeconds: Int

    /// The longest header read, so that a huge one costs nothing.
    static let maxHeaderLength = 8 * 1024

    /// A verifier for the configured secrets.
    public init(secrets: [Secret], toleranceSeconds: Int) {
        self.secrets = secrets
        self.toleranceSeconds = toleranceSeconds
    }

    /// Nothing when `payload` (the body exactly as received) is signed by one of the secrets at a time within
    /// the tolerance of `now`; otherwise `.invalidSignature` with the reason for the log.
    public func verify(payload: [UInt8], header: String?, now: Double) throws(CheckoutError) {
        guard let header, !header.isEmpty else { throw .invalidSignature(reason: "no Stripe-Signature header") }
        guard header.utf8.count <= Self.maxHeaderLength else {
            throw .invalidSignature(reason: "Stripe-Signature longer than \(Self.maxHeaderLength) bytes")
        }
        var timestamp: Substring?
        var candidates: [Substring] = []
        for item in header.split(separator: ",", omittingEmptySubsequences: false) {
            let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pair.count == 2 else { continue }
            switch pair[0] {
            case "t" where timestamp == nil: timestamp = pair[1]
            case "v1": candidates.append(pair[1])
            default: continue  // v0 and anything else never count
            }
        }
        guard let timestamp, !timestamp.isEmpty, timestamp.utf8.count <= 12,
            timestamp.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), let seconds = Int(timestamp)
        else { throw .invalidSignature(reason: "no timestamp (t=) in Stripe-Signature") }
        guard !candidates.isEmpty else { throw .invalidSignature(reason: "no v1 signature in Stripe-Signature") }
        var signed = Array(timestamp.utf8)
        signed.append(UInt8(ascii: "."))
        signed.append(contentsOf: payload)
        var matched = false
        for secret in secrets {
            let key = SymmetricKey(data: Array(secret.value.utf8))
            let expected = Self.hex(HMAC<SHA256>.authenticationCode(for: signed, using: key))
            for candidate in candidates where Self.constantTimeEqual(expected, Array(candidate.utf8)) {
                matched = true
            }
        }
        guard matched else { throw .invalidSignature(reason: "no v1 signature matches a configured secret") }
        guard Double(seconds) >= now - Double(toleranceSeconds) else {
            throw .invalidSignature(reason: "timestamp older than the \(toleranceSeconds) s tolerance")
        }
    }

    /// Lowercase hex of a MAC.
    static func hex(_ code: some Sequence<UInt8>) -> [UInt8] {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in code {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return out
    }

    /// Compares without stopping at the first difference, so the time taken says nothing of where it is.
    static func constantTimeEqual(_ expected: [UInt8], _ candidate: [UInt8]) -> Bool {
        guard expected.count == candidate.count else { return false }
        var difference: UInt8 = 0
        for index in expected.indices { difference |= expected[index] ^ candidate[index] }
        return difference == 0
    }
}
