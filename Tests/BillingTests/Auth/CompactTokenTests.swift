import Foundation
import Testing

@testable import Billing

/// `CompactToken` and `Base64URL`: splitting and decoding a token once, before jwt-kit checks its signature.
@Suite struct CompactTokenTests {
    static func token(header: String, payload: String, signature: [UInt8] = [1, 2, 3]) -> [UInt8] {
        Array(
            [
                Fixture.base64URL(Array(header.utf8)), Fixture.base64URL(Array(payload.utf8)),
                Fixture.base64URL(signature),
            ]
            .joined(separator: ".").utf8)
    }

    @Test("base64url decodes what Foundation's encoder produced, at every length")
    func base64URLRoundTrip() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let encoded = Array(Fixture.base64URL(bytes).utf8)
            #expect(Base64URL.decode(encoded[...]) == bytes, "length \(length)")
        }
    }

    @Test(
        "base64url refuses padding, other alphabets, impossible lengths and non-canonical last characters",
        arguments: ["AA==", "A+8", "A/8", "A", "AAAAA", "e30=", "AB", "AAB", " AA", "A.A"])
    func base64URLRefuses(text: String) {
        #expect(Base64URL.decode(Array(text.utf8)[...]) == nil)
    }

    @Test("reads alg and kid from the header, the claims, and what the signature covers")
    func decodes() throws {
        let bytes = Self.token(
            header: #"{"alg":"HS256","kid":"k1","typ":"JWT"}"#,
            payload: #"{"sub":"u_1","exp":1700000000,"nbf":1.5,"aud":["a","b"],"mixed":["a",1],"admin":true,"o":{}}"#)
        let token = try CompactToken(bytes)
        #expect(token.algorithm == "HS256")
        #expect(token.keyID == "k1")
        #expect(!token.hasCriticalHeader)
        #expect(token.signature == [1, 2, 3])
        #expect(Array(token.signingInput) == Array(bytes[..<bytes.lastIndex(of: UInt8(ascii: "."))!]))
        #expect(token.claims.values["sub"] == .string("u_1"))
        #expect(token.claims.values["exp"] == .number(1_700_000_000))
        #expect(token.claims.values["nbf"] == .number(1.5))
        #expect(token.claims.values["aud"] == .strings(["a", "b"]))
        #expect(token.claims.values["mixed"] == .other)
        #expect(token.claims.values["admin"] == .bool(true))
        #expect(token.claims.values["o"] == .other)
    }

    @Test("a non-string alg or kid counts as absent; a number too large for a Double is not a number")
    func oddHeaderAndNumbers() throws {
        let token = try CompactToken(
            Self.token(
                header: #"{"alg":1,"kid":null}"#,
                payload: #"{"exp":1e400,"big":\#(String(repeating: "9", count: 400))}"#))
        #expect(token.algorithm == nil)
        #expect(token.keyID == nil)
        #expect(!token.hasCriticalHeader)
        #expect(token.claims.values["exp"] == .other)
        #expect(token.claims.values["big"] == .other)
    }

    @Test(
        "notes a crit member in the header whatever its value",
        arguments: [#"["b64"]"#, "[]", "null", "false", #""exp""#, "{}"])
    func crit(value: String) throws {
        let token = try CompactToken(Self.token(header: #"{"alg":"HS256","crit":\#(value)}"#, payload: "{}"))
        #expect(token.hasCriticalHeader)
    }

    @Test("refuses anything but three parts of base64url JSON objects")
    func refuses() {
        let header = Fixture.base64URL(Array(#"{"alg":"HS256"}"#.utf8))
        let payload = Fixture.base64URL(Array(#"{"sub":"u"}"#.utf8))
        let cases: [(String, CompactToken.Failure)] = [
            ("\(header).\(payload)", .notThreeParts),
            ("\(header).\(payload).AQ.AQ", .notThreeParts),
            ("\(header)=.\(payload).AQ", .notBase64URL),
            ("\(header).\(payload).A", .notBase64URL),
            ("\(Fixture.base64URL(Array("[]".utf8))).\(payload).AQ", .headerNotAJSONObject),
            ("\(Fixture.base64URL(Array("{".utf8))).\(payload).AQ", .headerNotAJSONObject),
            ("\(header).\(Fixture.base64URL(Array("\"sub\"".utf8))).AQ", .claimsNotAJSONObject),
        ]
        for (text, failure) in cases {
            #expect(throws: failure, "\(text)") { try CompactToken(Array(text.utf8)) }
        }
    }
}
