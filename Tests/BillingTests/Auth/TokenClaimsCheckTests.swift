import Foundation
import JWTKit
import Testing

@testable import Billing

/// `TokenVerifier`'s claim checks: time, issuer, audience, subject, and the configurable claim names.
@Suite struct TokenClaimsCheckTests {
    static let now = Fixture.now.timeIntervalSince1970

    /// The outcome of an HS256 token carrying exactly `values`, under `jwt` settings.
    static func check(
        _ values: [String: TokenClaims.Value], _ jwt: JWTSettings = JWTSettings(secret: Secret(Fixture.hmacSecret))
    )
        async throws -> Result<UserIdentity, CheckoutError>
    {
        let token = try await Fixture.hs256(TokenClaims(values: values))
        return await TokenVerifierTests.outcome(try await Fixture.verifier(jwt), token)
    }

    static func accepted(_ result: Result<UserIdentity, CheckoutError>) -> Bool {
        if case .success = result { return true }
        return false
    }

    static func rejected(_ result: Result<UserIdentity, CheckoutError>) -> Bool {
        if case .failure(.invalidCredentials) = result { return true }
        return false
    }

    static func withLeeway(_ seconds: Double) -> JWTSettings {
        JWTSettings(secret: Secret(Fixture.hmacSecret), leewaySeconds: seconds)
    }

    @Test(
        "exp and nbf are checked against the injected clock, with leeway",
        arguments: [
            (["exp": TokenClaims.Value.number(now + 1)], 0.0, true),
            (["exp": .number(now)], 0, false),
            (["exp": .number(now - 1)], 0, false),
            (["exp": .number(now - 30)], 60, true),
            (["exp": .number(now - 61)], 60, false),
            (["nbf": .number(now + 10)], 0, false),
            (["nbf": .number(now)], 0, true),
            (["nbf": .number(now + 30)], 60, true),
            (["nbf": .number(now + 61)], 60, false),
            (["exp": .string("tomorrow")], 0, false),
            (["nbf": .string("now")], 0, false),
            ([:], 0, true),
        ] as [([String: TokenClaims.Value], Double, Bool)])
    func timeClaims(time: [String: TokenClaims.Value], leeway: Double, accepted: Bool) async throws {
        var values = time
        values["sub"] = .string("u_1")
        let result = try await Self.check(values, Self.withLeeway(leeway))
        #expect(accepted ? Self.accepted(result) : Self.rejected(result))
    }

    @Test(
        "iat may be in the past or within the leeway ahead of the clock; later, or not a number, is refused",
        arguments: [
            (TokenClaims.Value.number(now - 3600), 0.0, true),
            (.number(now), 0, true),
            (.number(now + 0.5), 0, false),
            (.number(now + 1), 0, false),
            (.number(now + 30), 60, true),
            (.number(now + 60), 60, true),
            (.number(now + 61), 60, false),
            (.number(-1e300), 0, true),
            (.number(1e300), 600, false),
            (.string("1700000000"), 0, false),
            (.string("yesterday"), 0, false),
            (.bool(true), 0, false),
            (.bool(false), 0, false),
            (.strings([]), 0, false),
            (.other, 0, false),
        ] as [(TokenClaims.Value, Double, Bool)])
    func issuedAt(iat: TokenClaims.Value, leeway: Double, accepted: Bool) async throws {
        let result = try await Self.check(["sub": .string("u_1"), "iat": iat], Self.withLeeway(leeway))
        #expect(accepted ? Self.accepted(result) : Self.rejected(result))
    }

    @Test(
        "a bool is not a time: exp, nbf and iat of true or false are refused (Python's int(True) is 1)",
        arguments: ["exp", "nbf", "iat"], [true, false])
    func boolTimes(claim: String, value: Bool) async throws {
        let result = try await Self.check(["sub": .string("u_1"), claim: .bool(value)], Self.withLeeway(600))
        #expect(Self.rejected(result))
    }

    @Test(
        "sub must be a non-empty string",
        arguments: [
            [String: TokenClaims.Value](), ["sub": .number(123)], ["sub": .string("")], ["sub": .bool(true)],
            ["sub": .strings(["u_1"])], ["email": .string("a@example.com")],
        ])
    func subject(values: [String: TokenClaims.Value]) async throws {
        #expect(Self.rejected(try await Self.check(values)))
    }

    static let issuerAndAudience = JWTSettings(
        secret: Secret(Fixture.hmacSecret), issuer: "https://auth.example.com/", audience: "billing")

    @Test(
        "iss and aud must match when configured; aud may be a string or an array",
        arguments: [
            (["iss": TokenClaims.Value.string("https://auth.example.com/"), "aud": .string("billing")], true),
            (["iss": .string("https://auth.example.com/"), "aud": .strings(["web", "billing"])], true),
            (["iss": .string("https://evil.example.com/"), "aud": .string("billing")], false),
            (["aud": .string("billing")], false),
            (["iss": .string("https://auth.example.com/"), "aud": .string("web")], false),
            (["iss": .string("https://auth.example.com/"), "aud": .strings(["web"])], false),
            (["iss": .string("https://auth.example.com/")], false),
        ] as [([String: TokenClaims.Value], Bool)])
    func issuerAudience(values: [String: TokenClaims.Value], accepted: Bool) async throws {
        var values = values
        values["sub"] = .string("u_1")
        let result = try await Self.check(values, Self.issuerAndAudience)
        #expect(accepted ? Self.accepted(result) : Self.rejected(result))
    }

    @Test("any iss is accepted when no issuer is configured")
    func issuerOptional() async throws {
        let result = try await Self.check(["sub": .string("u_1"), "iss": .string("anyone")])
        #expect(result == .success(UserIdentity(userID: "u_1")))
    }

    @Test(
        "with no audience configured, a token with an aud is refused; an empty aud counts as none",
        arguments: [
            (TokenClaims.Value.string("any"), false), (.string("billing"), false), (.strings(["billing"]), false),
            (.strings(["web", "billing"]), false), (.number(0), false), (.bool(false), false), (.other, false),
            (.string(""), true), (.strings([]), true),
        ] as [(TokenClaims.Value, Bool)])
    func audienceWithoutSetting(aud: TokenClaims.Value, accepted: Bool) async throws {
        let result = try await Self.check(["sub": .string("u_1"), "aud": aud])
        #expect(accepted ? Self.accepted(result) : Self.rejected(result))
    }

    @Test("with an audience configured, a token naming it is accepted, with or without an issuer setting")
    func audienceWithSetting() async throws {
        let jwt = JWTSettings(secret: Secret(Fixture.hmacSecret), audience: "billing")
        #expect(
            try await Self.check(["sub": .string("u_1"), "aud": .string("billing")], jwt)
                == .success(UserIdentity(userID: "u_1")))
        #expect(Self.accepted(try await Self.check(["sub": .string("u_1"), "aud": .strings(["billing", "x"])], jwt)))
        #expect(Self.rejected(try await Self.check(["sub": .string("u_1"), "aud": .strings([])], jwt)))
        #expect(Self.rejected(try await Self.check(["sub": .string("u_1")], jwt)))
    }

    @Test("the plan and customer claim names come from settings")
    func configurableClaimNames() async throws {
        let jwt = JWTSettings(
            secret: Secret(Fixture.hmacSecret), planClaim: "https://example.com/tier", customerClaim: "cus")
        let values: [String: TokenClaims.Value] = [
            "sub": .string("u_1"), "plan": .string("ignored"), "stripe_customer_id": .string("cus_ignored"),
            "https://example.com/tier": .string("agency"), "cus": .string("cus_9"),
        ]
        #expect(
            try await Self.check(values, jwt)
                == .success(UserIdentity(userID: "u_1", plan: "agency", stripeCustomerID: "cus_9")))
    }

    @Test(
        "a plan claim that is a number or a bool is read as its text; other shapes as no plan",
        arguments: [
            (TokenClaims.Value.number(2), "2" as String?), (.bool(true), "true"), (.string(""), nil),
            (.strings(["pro"]), nil),
        ])
    func planShapes(plan: TokenClaims.Value, expected: String?) async throws {
        let result = try await Self.check(["sub": .string("u_1"), "plan": plan])
        #expect(result == .success(UserIdentity(userID: "u_1", plan: expected)))
    }

    @Test("an empty email or customer claim counts as absent")
    func emptyOptionalClaims() async throws {
        let result = try await Self.check([
            "sub": .string("u_1"), "email": .string(""), "stripe_customer_id": .string(""),
        ])
        #expect(result == .success(UserIdentity(userID: "u_1")))
    }
}
