import Foundation
import JWTKit
import Synchronization

/// Verifies bearer tokens (signatures by jwt-kit's keys) and turns their claims into a `UserIdentity`.
public struct TokenVerifier: Sendable {
    /// Tokens longer than this are refused before any parsing.
    static let maxTokenLength = 16 * 1024

    private let keys: JWTKeyCollection
    private let allowedAlgorithms: Set<String>
    /// Key ids of the keys that have one (JWKS entries, several PEM keys).
    private let knownKeyIDs: Set<String>
    /// Whether a key without an id is configured (the HS256 secret, a single PEM key): tokens whose `kid`
    /// names no key are checked against it, as issuers such as Supabase put a `kid` on HS256 tokens.
    private let hasKeyWithoutID: Bool
    private let settings: JWTSettings
    private let now: @Sendable () -> Date
    /// Keys already looked up in `keys` (an actor), by the kid they resolve under and the algorithm.
    private let resolved = ResolvedKeys()

    /// Builds the key collection from the settings; throws a `SettingsError` for a key that does not load.
    public static func make(settings: JWTSettings, now: @escaping @Sendable () -> Date = Date.init) async throws
        -> TokenVerifier
    {
        let keys = JWTKeyCollection()
        var algorithms = Set<String>()
        var problems: [String] = []
        var keyIDs = Set<String>()
        let hasKeyWithoutID = settings.secret != nil || settings.publicKeysPEM.count == 1
        if let secret = settings.secret {
            await keys.add(hmac: HMACKey(from: secret.value), digestAlgorithm: .sha256)
            algorithms.insert("HS256")
        }
        for (index, pem) in settings.publicKeysPEM.enumerated() {
            let kid = JWKIdentifier(string: "pem-\(index)")
            if settings.publicKeysPEM.count > 1 { keyIDs.insert(kid.string) }
            if let key = try? Insecure.RSA.PublicKey(pem: pem) {
                await keys.add(rsa: key, digestAlgorithm: .sha256, kid: settings.publicKeysPEM.count > 1 ? kid : nil)
                algorithms.insert("RS256")
            } else if let key = try? ES256PublicKey(pem: pem) {
                await keys.add(ecdsa: key, kid: settings.publicKeysPEM.count > 1 ? kid : nil)
                algorithms.insert("ES256")
            } else if let key = try? EdDSA.PublicKey(pem: pem) {
                await keys.add(eddsa: key, kid: settings.publicKeysPEM.count > 1 ? kid : nil)
                algorithms.insert("EdDSA")
            } else {
                problems.append("jwt.publicKey: not an RSA, EC P-256 or Ed25519 public key in PEM form")
            }
        }
        if let jwks = settings.jwks {
            do {
                let document = try JSONDecoder().decode(JWKS.self, from: Data(jwks.utf8))
                try await keys.add(jwks: document)
                keyIDs.formUnion(document.keys.compactMap { $0.keyIdentifier?.string })
                algorithms.formUnion(["RS256", "ES256", "EdDSA"])
            } catch {
                problems.append("jwt.jwksFile: not a JWKS document with usable keys")
            }
        }
        if !problems.isEmpty { throw SettingsError(problems: problems) }
        return TokenVerifier(
            keys: keys, allowedAlgorithms: algorithms, knownKeyIDs: keyIDs, hasKeyWithoutID: hasKeyWithoutID,
            settings: settings, now: now)
    }

    /// The identity a valid token carries; `.invalidCredentials` (with a loggable reason) for any other token.
    public func identity(for token: String) async throws(CheckoutError) -> UserIdentity {
        guard token.utf8.count <= Self.maxTokenLength else {
            throw .invalidCredentials(reason: "token longer than \(Self.maxTokenLength) bytes")
        }
        let decoded: CompactToken
        do {
            decoded = try CompactToken(Array(token.utf8))
        } catch {
            throw .invalidCredentials(reason: "malformed token")
        }
        // RFC 7515 §4.1.11: extensions listed in `crit` must be understood, or the token refused; none is here.
        guard !decoded.hasCriticalHeader else {
            throw .invalidCredentials(reason: "crit header names extensions not understood")
        }
        // Only algorithms of configured keys: never `none`, never HS256 with a public key as the secret.
        guard let algorithm = decoded.algorithm, allowedAlgorithms.contains(algorithm) else {
            throw .invalidCredentials(
                reason: "algorithm \((decoded.algorithm ?? "(none)").loggable(limit: 40)) not allowed")
        }
        // jwt-kit falls back to the default key for an unknown `kid`; only allow that where a key without an id exists.
        if let kid = decoded.keyID, !knownKeyIDs.contains(kid), !hasKeyWithoutID {
            throw .invalidCredentials(reason: "kid \(kid.loggable(limit: 40)) names no configured key")
        }
        let key: any JWTAlgorithm
        do {
            key = try await self.key(kid: decoded.keyID, algorithm: algorithm)
        } catch {
            throw .invalidCredentials(reason: "signature does not verify")
        }
        guard key.name == algorithm else {
            throw .invalidCredentials(reason: "algorithm \(algorithm) does not match the key")
        }
        guard (try? key.verify(decoded.signature, signs: decoded.signingInput)) == true else {
            throw .invalidCredentials(reason: "signature does not verify")
        }
        return try identity(from: decoded.claims)
    }

    /// The key for a token's kid and algorithm, as jwt-kit resolves them, looked up in the actor once.
    ///
    /// jwt-kit uses the key stored under the kid, else its default key; `knownKeyIDs` are exactly the stored
    /// kids, so every other kid resolves like no kid at all, and the cache stays as small as the configured keys.
    private func key(kid: String?, algorithm: String) async throws -> any JWTAlgorithm {
        let storedKid = kid.flatMap { knownKeyIDs.contains($0) ? $0 : nil }
        let name = (storedKid ?? "") + "\u{0}" + algorithm
        if let key = resolved.keys.withLock({ $0[name] }) { return key }
        let key = try await keys.getKey(for: storedKid.map { JWKIdentifier(string: $0) }, alg: algorithm)
        resolved.keys.withLock { $0[name] = key }
        return key
    }

    /// Checks the time, issuer and audience claims, and reads the ones the checkout uses.
    ///
    /// The rules are PyJWT's defaults where those are sound (the table in docs/behaviour.md, "Tokens"): times are JSON
    /// numbers (a bool or a numeric string is not, though Python's `int()` would take one), `iat` and `nbf` may
    /// be at most the leeway ahead of the clock, and an `aud` is refused when no audience is configured.
    func identity(from claims: TokenClaims) throws(CheckoutError) -> UserIdentity {
        let now = self.now().timeIntervalSince1970
        let leeway = settings.leewaySeconds
        if claims.values["exp"] != nil {
            guard let expiry = claims.number("exp") else { throw .invalidCredentials(reason: "exp is not a number") }
            guard now < expiry + leeway else { throw .invalidCredentials(reason: "token expired") }
        }
        if claims.values["nbf"] != nil {
            guard let notBefore = claims.number("nbf") else { throw .invalidCredentials(reason: "nbf is not a number") }
            guard notBefore <= now + leeway else { throw .invalidCredentials(reason: "token not yet valid") }
        }
        if claims.values["iat"] != nil {
            guard let issuedAt = claims.number("iat") else { throw .invalidCredentials(reason: "iat is not a number") }
            guard issuedAt <= now + leeway else { throw .invalidCredentials(reason: "token issued in the future") }
        }
        if let issuer = settings.issuer, claims.string("iss") != issuer {
            throw .invalidCredentials(reason: "wrong issuer")
        }
        if let audience = settings.audience {
            let audiences: [String]
            switch claims.values["aud"] {
            case .string(let value)?: audiences = [value]
            case .strings(let values)?: audiences = values
            default: audiences = []
            }
            guard audiences.contains(audience) else { throw .invalidCredentials(reason: "wrong audience") }
        } else if !Self.isEmptyAudience(claims.values["aud"]) {
            // PyJWT's InvalidAudienceError: a token meant for some audience is not meant for an endpoint that has none.
            throw .invalidCredentials(reason: "aud present but no audience configured")
        }
        guard let subject = claims.string("sub") else { throw .invalidCredentials(reason: "no sub claim") }
        let plan: String?
        switch claims.values[settings.planClaim] {
        case .string(let value)? where !value.isEmpty: plan = value
        case .number(let value)?:
            plan = value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
        case .bool(let value)?: plan = String(value)
        default: plan = nil
        }
        return UserIdentity(
            userID: subject,
            email: claims.string("email"),
            plan: plan,
            stripeCustomerID: claims.string(settings.customerClaim)
        )
    }
}

extension TokenVerifier {
    /// Whether an `aud` claim names no audience: absent, `""` or `[]`, which PyJWT also lets through when no
    /// audience is configured (its `not payload["aud"]`; `null`, `0`, `false` and `{}` are refused here).
    static func isEmptyAudience(_ value: TokenClaims.Value?) -> Bool {
        switch value {
        case nil: return true
        case .string(let value)?: return value.isEmpty
        case .strings(let values)?: return values.isEmpty
        default: return false
        }
    }
}

/// Keys looked up so far; they never change once the collection is built.
private final class ResolvedKeys: Sendable {
    let keys = Mutex<[String: any JWTAlgorithm]>([:])
}
