import Foundation
import Testing

/// No secret ever reaches stdout, stderr or the log, whatever path a request takes.
@Suite("Secrets never leak")
struct SecretLeakTests {
    static let stripeKey = "sk_test_STRIPEKEYMARKER7c1e"
    static let jwtSecret = "JWTSECRETMARKER-4f0d-4f0d-4f0d-4f0d-4f0d"

    @Test("every error path, with marker secrets and tokens, prints none of them")
    func noMarkerAnywhere() async throws {
        let harness = try await CheckoutHarness(stripeKey: Self.stripeKey, jwtSecret: Self.jwtSecret)
        let token = try await Tokens.make(key: Self.jwtSecret)
        let forged = try await Tokens.make(sub: "TOKENSUBMARKER", key: "another-secret-another-secret-0000")
        let expired = try await Tokens.make(expiresIn: -10, key: Self.jwtSecret)
        var outputs: [(stdout: String, stderr: String)] = []
        func run(
            _ headers: [String: String], body: String = "{}", settings: [String: String?] = [:]
        ) async throws {
            let (response, process) = try await harness.cgi(headers: headers, body: body, settings: settings)
            _ = response
            outputs.append((process.stdoutText, process.stderrText))
        }
        let bearer = ["Authorization": "Bearer \(token)"]
        try await run(bearer)  // 200
        try await run(["Authorization": "Bearer \(forged)"])  // 401, bad signature
        try await run(["Authorization": "Bearer \(expired)"])  // 401, expired
        try await run(["Authorization": "Bearer RAWTOKENMARKER"])  // 401, malformed
        try await run(["Authorization": "Basic \(Data("user:PASSWORDMARKER".utf8).base64EncodedString())"])  // 401
        try await run(bearer, body: "{bad")  // 422
        try await run(bearer, body: #"{"success_url":"https://evil.example/?k=\#(Self.stripeKey)"}"#)  // 422 echoes input only
        try await harness.standIn.inject([
            ["kind": "status", "status": 500], ["kind": "status", "status": 500], ["kind": "status", "status": 500],
        ])
        try await run(bearer)  // 503
        try await harness.standIn.inject([["kind": "nonJSON", "status": 200]])
        try await run(bearer)  // 502
        try await run(bearer, settings: ["STRIPE_SECRET_KEY": "sk_test_WRONGKEYMARKER1234"])  // 502, Stripe 401
        try await run(bearer, settings: ["STRIPE_API_BASE": "http://127.0.0.1:9"])  // 503, unreachable
        try await run(bearer, settings: ["FRONTEND_URL": nil])  // 500, not configured
        try await run(bearer, settings: ["STRIPE_SECRET_KEY": "pk_live_PUBLISHABLEMARKER"])  // 500, wrong kind of key
        // Stripe masks a key it quotes; the stand-in's echoKey fault does not, so only the binary's own redaction
        // keeps the whole key out of these logs.
        try await harness.standIn.inject([["kind": "echoKey", "status": 401]])
        try await run(bearer)  // 502, the message logged
        try await harness.standIn.inject(Array(repeating: ["kind": "echoKey", "status": 500], count: 3))
        try await run(bearer)  // 503 after the retries, the message logged
        try await harness.standIn.inject([["kind": "echoKey", "status": 400]])
        try await run(bearer, settings: ["STRIPE_SECRET_KEY": "sk_test_WRONGKEYMARKER1234"])  // 502, the wrong key

        let markers = [
            Self.stripeKey, Self.jwtSecret, token, "RAWTOKENMARKER", "PASSWORDMARKER", "WRONGKEYMARKER",
            "PUBLISHABLEMARKER", String(token.split(separator: ".")[2]),
        ]
        for (index, output) in outputs.enumerated() {
            for marker in markers {
                #expect(!output.stderr.contains(marker), "case \(index) logged \(marker.prefix(12))…")
                // The 422 that echoes the client's own input may of course contain what the client sent.
                if index == 6 && marker == Self.stripeKey { continue }
                #expect(!output.stdout.contains(marker), "case \(index) answered \(marker.prefix(12))…")
            }
        }
        #expect(outputs.count == 16)
        // The echoed key reached the log, redacted: the cases above really carried it.
        for index in 13..<16 {
            #expect(outputs[index].stderr.contains("<redacted>"), "case \(index) logged no redacted key")
        }
    }

    static let webhookSecret = "whsec_WEBHOOKSECRETMARKER0a1b2c3d"

    @Test("every path of the billing loop, with marker secrets, prints none of them")
    func loopPaths() async throws {
        let harness = try await CheckoutHarness(stripeKey: Self.stripeKey, jwtSecret: Self.jwtSecret)
        try await harness.standIn.setWebhook(secret: Self.webhookSecret)
        let token = try await Tokens.make(sub: "user_marker", key: Self.jwtSecret)
        let bearer = ["Authorization": "Bearer \(token)"]
        var loop = harness.loopSettings.mapValues { Optional($0) }
        loop["STRIPE_WEBHOOK_SECRET"] = Self.webhookSecret
        var outputs: [(stdout: String, stderr: String)] = []
        func run(
            _ route: String, _ headers: [String: String], method: String = "POST", body: String = "",
            settings: [String: String?] = [:]
        ) async throws -> CGIResponse {
            let (response, process) = try await harness.cgi(
                method: method, path: CheckoutHarness.prefix + "/" + route, headers: headers, body: body,
                contentType: body.isEmpty ? nil : "application/json", settings: loop.merging(settings) { $1 })
            outputs.append((process.stdoutText, process.stderrText))
            return response
        }
        #expect(try await run("subscription", bearer, method: "GET").status == 200)
        #expect(try await run("portal", bearer).status == 409)  // no billing account
        let checkout = try await run("checkout", bearer, body: "{}")
        let url = try #require(checkout.object?["url"] as? String)
        let paid = try await harness.standIn.complete(sessionID: String(url.split(separator: "/").last ?? ""))
        for event in paid.events {
            #expect(try await run("webhook", ["Stripe-Signature": event.signature], body: event.body).status == 200)
        }
        let event = try #require(paid.events.first)
        #expect(try await run("webhook", ["Stripe-Signature": "t=1,v1=00"], body: event.body).status == 400)
        #expect(try await run("webhook", [:], body: event.body).status == 400)
        #expect(
            try await run(
                "webhook", ["Stripe-Signature": event.signature], body: event.body,
                settings: ["STRIPE_WEBHOOK_SECRET": nil]
            ).status == 500)  // no secret configured
        #expect(
            try await run(
                "webhook", ["Stripe-Signature": event.signature], body: event.body,
                settings: ["STRIPE_WEBHOOK_SECRET": "WRONGWEBHOOKMARKER"]
            ).status == 500)  // not a whsec_ secret: settings problem
        #expect(try await run("checkout", bearer, body: "{}").status == 409)
        try await harness.standIn.inject([["kind": "echoKey", "status": 400, "path": "/v1/billing_portal/"]])
        #expect(try await run("portal", bearer).status == 502)  // Stripe's message, with the whole key, logged
        #expect(outputs.last?.stderr.contains("<redacted>") == true)
        try await harness.standIn.setPortalConfigured(false)
        #expect(try await run("portal", bearer).status == 500)
        try await harness.standIn.inject(
            Array(repeating: ["kind": "status", "status": 503, "path": "/v1/subscriptions/"], count: 3))
        #expect(try await run("webhook", ["Stripe-Signature": event.signature], body: event.body).status == 200)  // duplicate
        let markers = [Self.stripeKey, Self.jwtSecret, Self.webhookSecret, "WRONGWEBHOOKMARKER", token]
        for (index, output) in outputs.enumerated() {
            for marker in markers {
                #expect(!output.stderr.contains(marker), "case \(index) logged \(marker.prefix(12))…")
                #expect(!output.stdout.contains(marker), "case \(index) answered \(marker.prefix(12))…")
            }
        }
    }

    @Test("FastCGI start-up errors name the setting, never its value")
    func startupErrors() async throws {
        let result = try await ProcessRunner.run(
            try Binaries.billingCheckout(), arguments: ["--listen", "127.0.0.1:1"],
            environment: [
                "BILLING_ENV_FILE": "", "STRIPE_SECRET_KEY": "pk_live_PUBLISHABLEMARKER", "JWT_SECRET": Self.jwtSecret,
                "FRONTEND_URL": "ftp://FRONTENDMARKER",
            ])
        #expect(result.exitCode == 78)
        #expect(!result.stderrText.contains("PUBLISHABLEMARKER"))
        #expect(!result.stderrText.contains(Self.jwtSecret))
        #expect(result.stderrText.contains("STRIPE_SECRET_KEY"))
    }
}
