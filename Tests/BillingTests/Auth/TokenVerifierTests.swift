import Foundation
import JWTKit
import Testing

@testable import Billing

/// `TokenVerifier`: which tokens prove who the user is (signatures and algorithms).
@Suite struct TokenVerifierTests {
    static func outcome(_ verifier: TokenVerifier, _ token: String) async -> Result<UserIdentity, CheckoutError> {
        do throws(CheckoutError) {
            return .success(try await verifier.identity(for: token))
        } catch {
            return .failure(error)
        }
    }

    /// True when the token is refused as invalid credentials (the second 401).
    static func isRejected(_ verifier: TokenVerifier, _ token: String) async -> Bool {
        if case .failure(.invalidCredentials) = await outcome(verifier, token) { return true }
        return false
    }

    static func sign(
        _ claims: TokenClaims = Fixture.claims(), kid: String? = nil, using add: (JWTKeyCollection) async -> Void
    )
        async throws -> String
    {
        let keys = JWTKeyCollection()
        await add(keys)
        return try await keys.sign(claims, kid: kid.map { JWKIdentifier(string: $0) })
    }

    static func segment(_ json: String) -> String { Fixture.base64URL(Array(json.utf8)) }

    /// An HS256 token with exactly this header and these claims (JSON text), signed with the fixture secret.
    static func hs256(header: String, claims: String = #"{"sub":"u_1","exp":1700000600}"#) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: Fixture.hmacSecret), digestAlgorithm: .sha256)
        let signingInput = segment(header) + "." + segment(claims)
        let signature = try await keys.getKey(alg: "HS256").sign(Array(signingInput.utf8))
        return signingInput + "." + Fixture.base64URL(signature)
    }

    @Test("accepts a valid HS256 token and reads its claims")
    func hs256() async throws {
        let token = try await Fixture.hs256(
            Fixture.claims([
                "email": .string("a@example.com"), "plan": .string("pro"), "stripe_customer_id": .string("cus_1"),
            ]))
        #expect(
            await Self.outcome(try await Fixture.verifier(), token)
                == .success(UserIdentity(userID: "u_1", email: "a@example.com", plan: "pro", stripeCustomerID: "cus_1"))
        )
    }

    @Test("accepts RS256 with the PEM public key from settings")
    func rs256() async throws {
        let verifier = try await Fixture.verifier(JWTSettings(publicKeysPEM: [TestRSA.publicPEM]))
        let token = try await Self.sign {
            await $0.add(rsa: try! Insecure.RSA.PrivateKey(pem: TestRSA.privatePEM), digestAlgorithm: .sha256)
        }
        #expect(await Self.outcome(verifier, token) == .success(UserIdentity(userID: "u_1")))
    }

    @Test("accepts ES256 and EdDSA with PEM public keys")
    func es256AndEdDSA() async throws {
        let ec = ES256PrivateKey()
        let ed = try EdDSA.PrivateKey()
        let ecVerifier = try await Fixture.verifier(JWTSettings(publicKeysPEM: [ec.publicKey.pemRepresentation]))
        let edVerifier = try await Fixture.verifier(JWTSettings(publicKeysPEM: [ed.publicKey.pemRepresentation]))
        let ecToken = try await Self.sign { await $0.add(ecdsa: ec) }
        let edToken = try await Self.sign { await $0.add(eddsa: ed) }
        #expect(await Self.outcome(ecVerifier, ecToken) == .success(UserIdentity(userID: "u_1")))
        #expect(await Self.outcome(edVerifier, edToken) == .success(UserIdentity(userID: "u_1")))
        #expect(await Self.isRejected(ecVerifier, edToken))
        #expect(await Self.isRejected(edVerifier, ecToken))
    }

    @Test("with several PEM keys, a token picks one by kid pem-<index>")
    func severalPEMs() async throws {
        let ec = ES256PrivateKey()
        let verifier = try await Fixture.verifier(
            JWTSettings(publicKeysPEM: [TestRSA.publicPEM, ec.publicKey.pemRepresentation]))
        let token = try await Self.sign(kid: "pem-1") { await $0.add(ecdsa: ec, kid: JWKIdentifier(string: "pem-1")) }
        #expect(await Self.outcome(verifier, token) == .success(UserIdentity(userID: "u_1")))
        let wrongKid = try await Self.sign(kid: "pem-0") {
            await $0.add(ecdsa: ec, kid: JWKIdentifier(string: "pem-0"))
        }
        #expect(await Self.isRejected(verifier, wrongKid))
    }

    @Test("accepts EdDSA and ES256 keys from a JWKS document by kid; a kid of the other key type is refused")
    func jwks() async throws {
        let ed = try EdDSA.PrivateKey()
        let ec = ES256PrivateKey()
        let ecParameters = try #require(ec.publicKey.parameters)
        let jwks = """
            {"keys":[{"kty":"OKP","crv":"Ed25519","use":"sig","alg":"EdDSA","kid":"ed-1","x":"\(Fixture.base64URL(ed.publicKey.rawRepresentation))"},
            {"kty":"EC","crv":"P-256","use":"sig","alg":"ES256","kid":"ec-1","x":"\(ecParameters.x)","y":"\(ecParameters.y)"}]}
            """
        let verifier = try await Fixture.verifier(JWTSettings(jwks: jwks))
        let edToken = try await Self.sign(kid: "ed-1") { await $0.add(eddsa: ed, kid: JWKIdentifier(string: "ed-1")) }
        let ecToken = try await Self.sign(kid: "ec-1") { await $0.add(ecdsa: ec, kid: JWKIdentifier(string: "ec-1")) }
        let swapped = try await Self.sign(kid: "ec-1") { await $0.add(eddsa: ed, kid: JWKIdentifier(string: "ec-1")) }
        #expect(await Self.outcome(verifier, edToken) == .success(UserIdentity(userID: "u_1")))
        #expect(await Self.outcome(verifier, ecToken) == .success(UserIdentity(userID: "u_1")))
        #expect(await Self.isRejected(verifier, swapped))
    }

    @Test(
        "refuses a token whose kid names no key of the JWKS document")
    func unknownKid() async throws {
        let ed = try EdDSA.PrivateKey()
        let jwks = """
            {"keys":[{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","kid":"ed-1","x":"\(Fixture.base64URL(ed.publicKey.rawRepresentation))"}]}
            """
        let verifier = try await Fixture.verifier(JWTSettings(jwks: jwks))
        let nowhere = try await Self.sign(kid: "ed-2") { await $0.add(eddsa: ed, kid: JWKIdentifier(string: "ed-2")) }
        #expect(await Self.isRejected(verifier, nowhere))
    }

    @Test("an HS256 token that carries a kid (as Supabase's do) still verifies against the configured secret")
    func hs256WithKid() async throws {
        let token = try await Self.sign(kid: "supabase-key-1") {
            await $0.add(
                hmac: HMACKey(from: Fixture.hmacSecret), digestAlgorithm: .sha256,
                kid: JWKIdentifier(string: "supabase-key-1"))
        }
        #expect(await Self.outcome(try await Fixture.verifier(), token) == .success(UserIdentity(userID: "u_1")))
    }

    @Test(
        "a JWKS document without usable keys, or a PEM that is no key, fails to load",
        arguments: [
            JWTSettings(jwks: "not json"),
            JWTSettings(publicKeysPEM: ["-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"]),
        ])
    func badKeyMaterial(settings: JWTSettings) async {
        await #expect(throws: SettingsError.self) { try await TokenVerifier.make(settings: settings) }
    }

    @Test("refuses a token signed with another key")
    func wrongKey() async throws {
        let token = try await Fixture.hs256(secret: "another-secret-entirely-0123456789")
        #expect(await Self.isRejected(try await Fixture.verifier(), token))
        let other = try await Self.sign { await $0.add(ecdsa: ES256PrivateKey()) }
        let verifier = try await Fixture.verifier(
            JWTSettings(publicKeysPEM: [ES256PrivateKey().publicKey.pemRepresentation]))
        #expect(await Self.isRejected(verifier, other))
    }

    @Test("refuses alg none, however the header spells it", arguments: ["none", "None", "NONE"])
    func algNone(alg: String) async throws {
        let token =
            Self.segment(#"{"alg":"\#(alg)","typ":"JWT"}"#) + "." + Self.segment(#"{"sub":"u_1","exp":1700000600}"#)
            + "."
        #expect(await Self.isRejected(try await Fixture.verifier(), token))
        #expect(await Self.isRejected(try await Fixture.verifier(), String(token.dropLast())))
    }

    @Test("a correctly signed token whose header has no crit is accepted")
    func noCrit() async throws {
        let token = try await Self.hs256(header: #"{"alg":"HS256","typ":"JWT","kid":"k"}"#)
        #expect(await Self.outcome(try await Fixture.verifier(), token) == .success(UserIdentity(userID: "u_1")))
    }

    @Test(
        "refuses a correctly signed token with any crit header: no extension is understood (RFC 7515 §4.1.11)",
        arguments: [
            #""crit":["exp"],"exp":1700000600"#, #""crit":["b64"],"b64":false"#, #""crit":["b64"],"b64":true"#,
            #""crit":["urn:example:x"]"#, #""crit":[]"#, #""crit":"exp""#, #""crit":null"#, #""crit":[1]"#,
            #""crit":{}"#, #""crit":["x"]"#,
        ])
    func crit(member: String) async throws {
        let token = try await Self.hs256(header: #"{"alg":"HS256","typ":"JWT",\#(member)}"#)
        #expect(
            await Self.outcome(try await Fixture.verifier(), token)
                == .failure(.invalidCredentials(reason: "crit header names extensions not understood")))
    }

    @Test("refuses HS256 signed with the RSA public key as the secret when only the RSA key is configured")
    func algorithmConfusion() async throws {
        let verifier = try await Fixture.verifier(JWTSettings(publicKeysPEM: [TestRSA.publicPEM]))
        for secret in [TestRSA.publicPEM, TestRSA.publicPEM + "\n"] {
            let token = try await Fixture.hs256(secret: secret)
            #expect(await Self.isRejected(verifier, token))
        }
    }

    @Test("refuses RS256 when only an HS256 secret is configured")
    func rs256WithoutRSAKey() async throws {
        let token = try await Self.sign {
            await $0.add(rsa: try! Insecure.RSA.PrivateKey(pem: TestRSA.privatePEM), digestAlgorithm: .sha256)
        }
        #expect(await Self.isRejected(try await Fixture.verifier(), token))
    }

    @Test(
        "refuses garbage and over-long tokens without crashing",
        arguments: [
            "garbage", "a.b.c", "...", "e30.e30.", "\u{0}", String(repeating: "x", count: 10_000),
            String(repeating: "A", count: 16 * 1024 + 1),
        ])
    func garbage(token: String) async throws {
        #expect(await Self.isRejected(try await Fixture.verifier(), token))
    }

    @Test("accepts a valid token of 10,000 characters")
    func longValidToken() async throws {
        let token = try await Fixture.hs256(Fixture.claims(["pad": .string(String(repeating: "p", count: 7_300))]))
        #expect((9_800...10_200).contains(token.count))
        #expect(await Self.outcome(try await Fixture.verifier(), token) == .success(UserIdentity(userID: "u_1")))
    }
}
