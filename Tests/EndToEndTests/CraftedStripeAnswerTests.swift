import Foundation
import Testing

/// Answers the real Stripe never sends, crafted in the stand-in, seen through the binary: nothing in them may
/// crash the process, reach the client unchecked, or be read without a bound.
@Suite("Crafted Stripe answers end to end", .serialized)
struct CraftedStripeAnswerTests {
    private static func answer(
        status: Int = 200, headers: [String: String] = [:], body: String = "", repeat count: Int = 1,
        gzipBytes: Int? = nil
    ) -> [String: Any] {
        var fault: [String: Any] = ["kind": "answer", "status": status, "headers": headers, "body": body]
        fault["repeat"] = count
        if let gzipBytes { fault["gzipBytes"] = gzipBytes }
        return fault
    }

    private static func session(url: String) -> String {
        #"{"id":"cs_test_crafted","object":"checkout.session","url":"\#(url)"}"#
    }

    @Test(
        "a Retry-After that is not a small number never crashes the process: 503 with Retry-After within 1...60",
        arguments: [
            ("NaN", 1), ("inf", 1), ("-inf", 1), ("1e300", 1), ("999999999999", 60), ("-1", 1), ("7", 7),
        ])
    func retryAfter(value: String, expected: Int) async throws {
        let harness = try await CheckoutHarness()
        let fault = Self.answer(status: 503, headers: ["Retry-After": value], body: #"{"error":{"type":"api_error"}}"#)
        try await harness.standIn.inject(Array(repeating: fault, count: 3))
        let (response, process) = try await harness.cgi(
            headers: harness.authorized(try await Tokens.make()), settings: ["STRIPE_MAX_NETWORK_RETRIES": "0"])
        #expect(process.exitCode == 0)
        #expect(response.status == 503)
        #expect(response.headers["retry-after"] == String(expected))
        #expect(response.bodyText == #"{"detail":"Payment provider unavailable"}"#)
    }

    @Test("under FastCGI, 20 requests that all meet Retry-After: NaN get JSON 503s and the process lives on")
    func retryAfterUnderFastCGI() async throws {
        let harness = try await CheckoutHarness()
        let server = try await FastCGIProcess(settings: harness.settings.merging(["WORKERS": "32"]) { $1 })
        defer { server.signal(SIGKILL) }
        let fault = Self.answer(status: 503, headers: ["Retry-After": "NaN"], body: "{}")
        // Every try of every request: 20 requests, 3 tries each.
        try await harness.standIn.inject(Array(repeating: fault, count: 60))
        let token = try await Tokens.make()
        let responses = try await server.parallelRequests(count: 20, headers: harness.authorized(token))
        #expect(responses.map(\.status) == Array(repeating: 503, count: 20))
        #expect(responses.allSatisfy { $0.bodyText == #"{"detail":"Payment provider unavailable"}"# })
        #expect(server.process.isRunning)
        #expect(try await server.request(headers: harness.authorized(token)).status == 200)
    }

    @Test("a redirect is never followed: 502, Stripe was called once, the log names where it pointed",
        arguments: [301, 302, 303, 307, 308])
    func redirect(status: Int) async throws {
        let harness = try await CheckoutHarness()
        // The same stand-in under another name: a followed redirect would be recorded as a second call.
        let location = harness.standIn.baseURL.replacingOccurrences(of: "127.0.0.1", with: "localhost")
            + "/v1/checkout/sessions"
        try await harness.standIn.inject([Self.answer(status: status, headers: ["Location": location])])
        let (response, process) = try await harness.cgi(headers: harness.authorized(try await Tokens.make()))
        #expect(response.status == 502)
        #expect(response.bodyText == #"{"detail":"Payment provider rejected the request"}"#)
        let calls = try await harness.standIn.recordedRequests()
        #expect(calls.count == 1, "the redirect was followed")
        #expect(process.stderrText.contains("redirect to \(location)"))
    }

    @Test(
        "a session url that is not https on Stripe's Checkout host is a 502, never passed on",
        arguments: [
            "javascript:alert(1)", "https://evil.com/c/pay/cs_test_crafted", "http://checkout.stripe.com/c/pay/x",
            "https://checkout.stripe.com@evil.com/",
        ])
    func unsafeURL(url: String) async throws {
        let harness = try await CheckoutHarness()
        try await harness.standIn.inject([Self.answer(body: Self.session(url: url))])
        let (response, _) = try await harness.cgi(headers: harness.authorized(try await Tokens.make()))
        #expect(response.status == 502)
        #expect(!response.bodyText.contains("evil"))
        #expect(!response.bodyText.contains("javascript"))
    }

    @Test("a custom Checkout domain passes once STRIPE_CHECKOUT_HOSTS names it")
    func customDomain() async throws {
        let harness = try await CheckoutHarness()
        let url = "https://pay.example.com/c/pay/cs_test_crafted"
        try await harness.standIn.inject([Self.answer(body: Self.session(url: url))])
        let (response, _) = try await harness.cgi(
            headers: harness.authorized(try await Tokens.make()),
            settings: ["STRIPE_CHECKOUT_HOSTS": "checkout.stripe.com, pay.example.com"])
        #expect(response.status == 200)
        #expect(response.bodyText == #"{"url":"\#(url)"}"#)
    }

    @Test("a 50 MB answer is not read: 502 at once")
    func hugeAnswer() async throws {
        let harness = try await CheckoutHarness()
        try await harness.standIn.inject([Self.answer(body: String(repeating: "x", count: 1024), repeat: 50 * 1024)])
        let (response, process) = try await harness.cgi(headers: harness.authorized(try await Tokens.make()))
        #expect(response.status == 502)
        #expect(process.stderrText.contains("larger than"))
    }

    @Test("a gzip answer that inflates to 200 MB is stopped inside libcurl: 502, and the process stays small")
    func compressionBomb() async throws {
        let harness = try await CheckoutHarness()
        let server = try await FastCGIProcess(settings: harness.settings)
        defer { server.signal(SIGKILL) }
        let token = try await Tokens.make()
        #expect(try await server.request(headers: harness.authorized(token)).status == 200)
        let before = try Self.peakResidentKiB(of: server)
        try await harness.standIn.inject([Self.answer(gzipBytes: 200 << 20)])
        let response = try await server.request(headers: harness.authorized(token))
        #expect(response.status == 502)
        let grown = try Self.peakResidentKiB(of: server) - before
        // Inflated whole, the answer takes over 200 MB; capped, a few MiB at most.
        #expect(grown < 32 * 1024, "peak resident size grew by \(grown) KiB")
        #expect(server.process.isRunning)
    }

    @Test("a small gzip answer is inflated and read as usual")
    func smallCompressedAnswer() async throws {
        let harness = try await CheckoutHarness()
        try await harness.standIn.inject([Self.answer(gzipBytes: 1000)])
        let (response, process) = try await harness.cgi(headers: harness.authorized(try await Tokens.make()))
        // 1000 `0`s are not JSON (no leading zeros), so the answer is a 502, but for what it says, not its size.
        #expect(response.status == 502)
        #expect(!process.stderrText.contains("larger than"))
        #expect(process.stderrText.contains("not a JSON object"))
    }

    /// The process's peak resident set size (`VmHWM`), in KiB.
    private static func peakResidentKiB(of server: FastCGIProcess) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(server.process.processIdentifier)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { throw SupportError("no VmHWM in /proc status") }
        return kib
    }
}
