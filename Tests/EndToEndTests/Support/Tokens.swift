import Foundation
import JWTKit

/// Mints bearer tokens for the end-to-end tests with jwt-kit.
enum Tokens {
    static let secret = "e2e-secret-e2e-secret-e2e-secret-42"

    struct Claims: JWTPayload {
        var sub: String?
        var email: String?
        var plan: String?
        var stripe_customer_id: String?
        var exp: Double?
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    /// An HS256 token signed with `secret` (or another key, to make it invalid).
    static func make(
        sub: String? = "user_42", email: String? = "ada@example.com", plan: String? = nil, customer: String? = nil,
        expiresIn: Double = 3600, key: String = secret
    ) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: key), digestAlgorithm: .sha256)
        let claims = Claims(
            sub: sub, email: email, plan: plan, stripe_customer_id: customer,
            exp: Date().timeIntervalSince1970 + expiresIn)
        return try await keys.sign(claims)
    }
}
