import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The built binary as plain CGI: a web server's environment and body piped in, stdout parsed.
@Suite("CGI end to end")
struct CGIEndToEndTests {
    @Test("writes nothing into the web server user's home (Foundation's URL cache and data directories)")
    func leavesHomeAlone() async throws {
        let harness = try await CheckoutHarness()
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("billing-home-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: home) }
        let token = try await Tokens.make()
        let (response, _) = try await harness.cgi(
            headers: harness.authorized(token), settings: ["HOME": home.path, "XDG_CACHE_HOME": nil])
        #expect(response.status == 200)
        #expect(try FileManager.default.contentsOfDirectory(atPath: home.path) == [])
    }

    @Test("creates a session with exactly the parameters Stripe needs, and answers its url")
    func success() async throws {
        let harness = try await CheckoutHarness()
        let token = try await Tokens.make()
        let (response, _) = try await harness.cgi(headers: harness.authorized(token), body: "{}")
        #expect(response.status == 200)
        #expect(response.headers["content-type"] == "application/json")
        #expect(response.headers["cache-control"] == "no-store")
        let url = try #require(try response.json()["url"] as? String)
        #expect(url.hasPrefix("https://checkout.stripe.com/c/pay/cs_test_"))
        #expect(response.bodyText == #"{"url":"\#(url)"}"#)

        let calls = try await harness.standIn.recordedRequests()
        let call = try #require(calls.first)
        #expect(calls.count == 1)
        #expect(
            call.params.map(\.0) == [
                "mode", "line_items[0][price]", "line_items[0][quantity]", "success_url", "cancel_url",
                "client_reference_id", "metadata[user_id]", "subscription_data[metadata][user_id]", "customer_email",
            ])
        #expect(call.param("mode") == "subscription")
        #expect(call.param("line_items[0][price]") == StandIn.basicPrice)
        #expect(call.param("line_items[0][quantity]") == "1")
        #expect(call.param("success_url") == "http://localhost:3000/dashboard?success=true")
        #expect(call.param("cancel_url") == "http://localhost:3000/dashboard?canceled=true")
        #expect(call.param("client_reference_id") == "user_42")
        #expect(call.param("metadata[user_id]") == "user_42")
        #expect(call.param("subscription_data[metadata][user_id]") == "user_42")
        #expect(call.param("customer_email") == "ada@example.com")
        #expect(call.headers["authorization"] == "Bearer \(StandIn.secretKey)")
        #expect(call.headers["stripe-version"] == "2024-06-20")
        #expect(call.headers["user-agent"]?.hasPrefix("billing-checkout/") == true)
        #expect(call.idempotencyKey?.isEmpty == false)
    }

    @Test("the price comes from the token's plan and settings, never from the body")
    func priceFromPlan() async throws {
        let harness = try await CheckoutHarness()
        let token = try await Tokens.make(plan: "pro")
        let body = #"{"price_id":"price_cheap","line_items":[{"price":"price_cheap"}]}"#
        let (response, _) = try await harness.cgi(headers: harness.authorized(token), body: body)
        #expect(response.status == 200)
        let call = try #require(try await harness.standIn.recordedRequests().first)
        #expect(call.param("line_items[0][price]") == StandIn.proPrice)
        #expect(!call.params.contains { $0.1 == "price_cheap" })
    }

    @Test("a plan without a configured price is a 403 naming the plan, never the default price")
    func unknownPlan() async throws {
        let harness = try await CheckoutHarness()
        let token = try await Tokens.make(plan: "enterprise")
        let (response, _) = try await harness.cgi(headers: harness.authorized(token))
        #expect(response.status == 403)
        #expect(response.bodyText == #"{"detail":"No price is configured for plan 'enterprise'"}"#)
        #expect(try await harness.standIn.recordedRequests().isEmpty)
    }

    @Test("a Stripe customer in the token is sent as customer, and then no customer_email")
    func customerClaim() async throws {
        let harness = try await CheckoutHarness()
        let token = try await Tokens.make(customer: "cus_123")
        let (response, _) = try await harness.cgi(headers: harness.authorized(token))
        #expect(response.status == 200)
        let call = try #require(try await harness.standIn.recordedRequests().first)
        #expect(call.param("customer") == "cus_123")
        #expect(call.param("customer_email") == nil)
    }

    @Test("redirect URLs from the body reach Stripe unchanged, {CHECKOUT_SESSION_ID} included")
    func redirectURLsPassThrough() async throws {
        let harness = try await CheckoutHarness()
        let token = try await Tokens.make()
        let success = "http://localhost:3000/welcome?session={CHECKOUT_SESSION_ID}&x=a%20b"
        let body = #"{"success_url":"\#(success)","cancel_url":"http://localhost:3000/pricing"}"#
        let (response, _) = try await harness.cgi(headers: harness.authorized(token), body: body)
        #expect(response.status == 200)
        let call = try #require(try await harness.standIn.recordedRequests().first)
        #expect(call.param("success_url") == success)
        #expect(call.param("cancel_url") == "http://localhost:3000/pricing")
    }

    @Test("a client's Idempotency-Key makes its retry get the same session")
    func clientIdempotencyKey() async throws {
        let harness = try await CheckoutHarness()
        let token = try await Tokens.make()
        var headers = harness.authorized(token)
        headers["Idempotency-Key"] = "client-retry-1"
        let first = try await harness.cgi(headers: headers).response
        let second = try await harness.cgi(headers: headers).response
        #expect(first.status == 200)
        #expect(first.bodyText == second.bodyText)
        let other = try await harness.cgi(headers: harness.authorized(token)).response
        #expect(other.bodyText != first.bodyText)
        let keys = try await harness.standIn.recordedRequests().map(\.idempotencyKey)
        try #require(keys.count == 3)
        // Every call carries a key: the client's retry the same derived one, the other request its own.
        #expect(keys.allSatisfy { $0?.hasPrefix("bc-") == true })
        #expect(keys[0] == keys[1])
        #expect(keys[0] != keys[2])
        #expect(keys[0] != "client-retry-1")
    }

    @Test("no or non-Bearer Authorization is 401 Not authenticated, before the body is looked at")
    func notAuthenticated() async throws {
        let harness = try await CheckoutHarness()
        for headers in [[:], ["Authorization": "Basic dXNlcjpwYXNz"], ["Authorization": "Bearer "]] {
            let (response, _) = try await harness.cgi(headers: headers, body: "{not json")
            #expect(response.status == 401)
            #expect(response.bodyText == #"{"detail":"Not authenticated"}"#)
            #expect(response.headers["www-authenticate"] == "Bearer")
        }
    }

    @Test("a token that does not verify is 401 Could not validate credentials")
    func invalidCredentials() async throws {
        let harness = try await CheckoutHarness()
        let tokens = [
            try await Tokens.make(key: "another-secret-another-secret-00"),
            try await Tokens.make(expiresIn: -60),
            try await Tokens.make(sub: nil),
            "not.a.token",
        ]
        for token in tokens {
            let (response, _) = try await harness.cgi(headers: harness.authorized(token))
            #expect(response.status == 401)
            #expect(response.bodyText == #"{"detail":"Could not validate credentials"}"#)
            #expect(response.headers["www-authenticate"] == "Bearer")
        }
        #expect(try await harness.standIn.recordedRequests().isEmpty)
    }

    @Test(
        "validation errors are FastAPI-shaped 422s",
        arguments: [
            (
                "", "application/json",
                #"{"detail":[{"type":"missing","loc":["body"],"msg":"Field required","input":null}]}"#
            ),
            (
                #"{"success_url":"#, "application/json",
                #"{"detail":[{"type":"json_invalid","loc":["body",15],"msg":"JSON decode error","input":{},"ctx":{"error":"Expecting value"}}]}"#
            ),
            (
                "[1,2]", "application/json",
                #"{"detail":[{"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid dictionary or object to extract fields from","input":[1,2]}]}"#
            ),
            (
                "a=b", "application/x-www-form-urlencoded",
                #"{"detail":[{"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid dictionary or object to extract fields from","input":"a=b"}]}"#
            ),
            (
                #"{"success_url":1,"cancel_url":null}"#, "application/json",
                #"{"detail":[{"type":"string_type","loc":["body","success_url"],"msg":"Input should be a valid string","input":1},{"type":"string_type","loc":["body","cancel_url"],"msg":"Input should be a valid string","input":null}]}"#
            ),
            (
                #"{"success_url":"https://evil.example/x"}"#, "application/json",
                #"{"detail":[{"type":"value_error","loc":["body","success_url"],"msg":"Value error, URL origin https://evil.example is not allowed","input":"https://evil.example/x","ctx":{"error":"URL origin https://evil.example is not allowed"}}]}"#
            ),
        ])
    func validation(body: String, contentType: String, expected: String) async throws {
        let harness = try await CheckoutHarness()
        let token = try await Tokens.make()
        let (response, _) = try await harness.cgi(
            headers: harness.authorized(token), body: body, contentType: contentType)
        #expect(response.status == 422)
        #expect(response.bodyText == expected)
    }

    @Test(
        "a body without a Content-Type is not read as JSON (422, the raw body as input) unless STRICT_CONTENT_TYPE=false",
        arguments: [nil, ""] as [String?])
    func missingContentType(contentType: String?) async throws {
        let harness = try await CheckoutHarness()
        let token = try await Tokens.make()
        let strict = try await harness.cgi(headers: harness.authorized(token), body: "{}", contentType: contentType)
        #expect(strict.response.status == 422)
        #expect(
            strict.response.bodyText
                == #"{"detail":[{"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid dictionary or object to extract fields from","input":"{}"}]}"#
        )
        #expect(try await harness.standIn.recordedRequests().isEmpty)
        let lenient = try await harness.cgi(
            headers: harness.authorized(token), body: "{}", contentType: contentType,
            settings: ["STRICT_CONTENT_TYPE": "false"])
        #expect(lenient.response.status == 200)
    }

    @Test("other paths are 404, other methods 405 with Allow: POST, and a query string still routes")
    func routing() async throws {
        let harness = try await CheckoutHarness()
        let token = try await Tokens.make()
        let notFound = try await harness.cgi(path: "/api/v1/billing/other", headers: harness.authorized(token)).response
        #expect(notFound.status == 404)
        #expect(notFound.bodyText == #"{"detail":"Not Found"}"#)
        let wrongMethod = try await harness.cgi(method: "GET", headers: harness.authorized(token), body: "").response
        #expect(wrongMethod.status == 405)
        #expect(wrongMethod.bodyText == #"{"detail":"Method Not Allowed"}"#)
        #expect(wrongMethod.headers["allow"] == "POST")
        let withQuery = try await harness.cgi(query: "utm=1", headers: harness.authorized(token)).response
        #expect(withQuery.status == 200)
    }

    @Test("a body over the limit is 413, and a malformed Content-Length a 400")
    func bodyLimits() async throws {
        let harness = try await CheckoutHarness()
        let token = try await Tokens.make()
        let big = #"{"success_url":""# + String(repeating: "a", count: 70_000) + #""}"#
        let tooLarge = try await harness.cgi(headers: harness.authorized(token), body: big).response
        #expect(tooLarge.status == 413)
        #expect(tooLarge.bodyText == #"{"detail":"Request body too large"}"#)
        let huge = try await harness.cgi(
            headers: harness.authorized(token), body: "{}", contentLength: "99999999999999999999"
        ).response
        #expect(huge.status == 413)
        let negative = try await harness.cgi(headers: harness.authorized(token), body: "{}", contentLength: "-5")
            .response
        #expect(negative.status == 400)
        let short = try await harness.cgi(headers: harness.authorized(token), body: "{}", contentLength: "10").response
        #expect(short.status == 400)
        #expect(try await harness.standIn.recordedRequests().isEmpty)
    }

    @Test("a chunked body (no CONTENT_LENGTH, Transfer-Encoding: chunked) is read to the end of input")
    func chunkedBody() async throws {
        let harness = try await CheckoutHarness()
        let token = try await Tokens.make()
        var headers = harness.authorized(token)
        headers["Transfer-Encoding"] = "chunked"
        let body = #"{"cancel_url":"http://localhost:3000/back"}"#
        let (response, _) = try await harness.cgi(headers: headers, body: body, settings: ["CONTENT_LENGTH": nil])
        #expect(response.status == 200)
        let call = try #require(try await harness.standIn.recordedRequests().first)
        #expect(call.param("cancel_url") == "http://localhost:3000/back")
        // Without chunked encoding, no CONTENT_LENGTH means no body (RFC 3875), which is a missing body.
        let plain = try await harness.cgi(
            headers: harness.authorized(token), body: body, settings: ["CONTENT_LENGTH": nil])
        #expect(plain.response.status == 422)
    }

    @Test("missing settings answer 500 Billing is not configured and say why in the log, without secrets")
    func notConfigured() async throws {
        let harness = try await CheckoutHarness()
        let token = try await Tokens.make()
        let (response, process) = try await harness.cgi(
            headers: harness.authorized(token), settings: ["STRIPE_SECRET_KEY": nil, "FRONTEND_URL": nil])
        #expect(response.status == 500)
        #expect(response.bodyText == #"{"detail":"Billing is not configured"}"#)
        #expect(process.stderrText.contains("STRIPE_SECRET_KEY"))
        #expect(process.stderrText.contains("FRONTEND_URL"))
        #expect(!process.stderrText.contains(Tokens.secret))
    }

    /// A Stripe base no proxy is needed to fail on: TLS to a loopback port nothing listens on. Without a proxy the
    /// call is refused at once (503); through one, libcurl would send `CONNECT 127.0.0.1:9` to the proxy instead.
    static let unreachableHTTPSBase = "https://127.0.0.1:9"

    @Test(
        "httpoxy: a client's Proxy header (HTTP_PROXY) never routes the Stripe call, over http or https",
        arguments: [false, true])
    func httpoxy(https: Bool) async throws {
        let harness = try await CheckoutHarness()
        let trap = try ProxyTrap()
        let token = try await Tokens.make()
        var headers = harness.authorized(token)
        headers["Proxy"] = trap.url
        let base = https ? Self.unreachableHTTPSBase : harness.standIn.baseURL
        let (response, _) = try await harness.cgi(headers: headers, settings: ["STRIPE_API_BASE": base])
        #expect(response.status == (https ? 503 : 200))
        #expect(try await harness.standIn.recordedRequests().count == (https ? 0 : 1))
        #expect(trap.connections == [], "the Stripe call went through the client's Proxy header")
    }

    /// Each variable libcurl could take a proxy from, alone, over an http and an https Stripe base.
    static let proxyCases: [(String, Bool)] = ProxyTrap.variables.flatMap { [($0, false), ($0, true)] }

    @Test("no proxy is ever taken from the environment (CGI): each proxy variable, http and https", arguments: proxyCases)
    func environmentProxyIgnored(variable: String, https: Bool) async throws {
        let harness = try await CheckoutHarness()
        let trap = try ProxyTrap()
        let token = try await Tokens.make()
        let base = https ? Self.unreachableHTTPSBase : harness.standIn.baseURL
        let (response, process) = try await harness.cgi(
            headers: harness.authorized(token), settings: ["STRIPE_API_BASE": base, variable: trap.url])
        #expect(response.status == (https ? 503 : 200), "\(process.stderrText)")
        #expect(try await harness.standIn.recordedRequests().count == (https ? 0 : 1))
        #expect(trap.connections == [], "\(variable) routed the \(https ? "https" : "http") Stripe call")
    }

    @Test("no proxy is ever taken from the environment (FastCGI): every proxy variable at once, http and https")
    func environmentProxyIgnoredFastCGI() async throws {
        let harness = try await CheckoutHarness()
        let trap = try ProxyTrap()
        let token = try await Tokens.make()
        for https in [false, true] {
            var settings = harness.settings
            settings["STRIPE_API_BASE"] = https ? Self.unreachableHTTPSBase : harness.standIn.baseURL
            for variable in ProxyTrap.variables { settings[variable] = trap.url }
            let server = try await FastCGIProcess(settings: settings)
            let response = try await server.request(headers: harness.authorized(token))
            #expect(response.status == (https ? 503 : 200))
            #expect(trap.connections == [], "a proxy variable routed the \(https ? "https" : "http") Stripe call")
        }
        #expect(try await harness.standIn.recordedRequests().count == 1)
    }

    @Test("every header line the binary writes ends in CRLF (no bare LF or CR), whatever the answer")
    func headerLinesEndInCRLF() async throws {
        let harness = try await CheckoutHarness()
        let token = try await Tokens.make()
        try await harness.standIn.inject(Array(repeating: ["kind": "status", "status": 503], count: 3))
        let requests: [(method: String, headers: [String: String], body: String)] = [
            ("POST", harness.authorized(token), "{}"),  // 503 with Retry-After (the faults above)
            ("POST", harness.authorized(token), "{}"),  // 200
            ("POST", [:], "{}"),  // 401 with WWW-Authenticate
            ("GET", harness.authorized(token), ""),  // 405 with Allow
            ("POST", harness.authorized(token), "{bad"),  // 422
        ]
        var statuses: [Int] = []
        for request in requests {
            let (response, process) = try await harness.cgi(
                method: request.method, headers: request.headers, body: request.body)
            statuses.append(response.status)
            let bytes = [UInt8](process.stdout)
            var index = 0
            var stray: [Int] = []
            while index < bytes.count {
                if bytes[index] == 10, index == 0 || bytes[index - 1] != 13 { stray.append(index) }
                if bytes[index] == 13, index + 1 >= bytes.count || bytes[index + 1] != 10 { stray.append(index) }
                if index >= 3, bytes[(index - 3)...index].elementsEqual([13, 10, 13, 10]) { break }
                index += 1
            }
            #expect(stray == [], "stray line ends in \(process.stdoutText.prefix(300).debugDescription)")
            #expect(index < bytes.count, "no blank line after the headers")
        }
        #expect(statuses == [503, 200, 401, 405, 422])
    }

    @Test("client headers can never override a setting")
    func clientHeadersAreNotSettings() async throws {
        let harness = try await CheckoutHarness()
        let token = try await Tokens.make()
        var headers = harness.authorized(token)
        headers["Stripe-Price-Id"] = "price_cheap"
        headers["Billing-Config"] = "/etc/passwd"
        let (response, _) = try await harness.cgi(
            headers: headers, settings: ["STRIPE_PRICE_ID": nil, "STRIPE_PRICES_PRO": nil])
        // With no default price configured, a client header must not supply one.
        #expect(response.status == 403)
        #expect(try await harness.standIn.recordedRequests().isEmpty)
    }
}

/// A loopback TCP listener standing in for a proxy that must never be used: it records the first line of every
/// connection (`POST http://…` or `CONNECT …` from a client that took it for a proxy) and closes it.
final class ProxyTrap: Sendable {
    /// The variables libcurl reads a proxy from (docs/behaviour.md).
    static let variables = ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]

    /// What the accepting thread shares with the trap; the thread closes the socket once `stopped` is set.
    private final class State: @unchecked Sendable {
        // @unchecked: every var is guarded by `lock`.
        let lock = NSLock()
        var received: [String] = []
        var stopped = false
    }

    let port: Int
    private let state = State()

    /// `http://127.0.0.1:PORT`, for a proxy variable or a `Proxy:` header.
    var url: String { "http://127.0.0.1:\(port)" }

    /// The first line of every connection so far.
    var connections: [String] { state.lock.withLock { state.received } }

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = FastCGIConnection.loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(descriptor, pointer, length) == 0 && getsockname(descriptor, pointer, &length) == 0
            }
        }
        guard bound, listen(descriptor, 64) == 0 else {
            close(descriptor)
            throw SupportError("the proxy trap cannot listen")
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        let state = self.state
        Thread.detachNewThread { Self.acceptLoop(descriptor, state) }
    }

    deinit {
        state.lock.withLock { state.stopped = true }
    }

    private static func acceptLoop(_ descriptor: Int32, _ state: State) {
        defer { close(descriptor) }
        while !state.lock.withLock({ state.stopped }) {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else { continue }
            let connection = accept(descriptor, nil, nil)
            guard connection >= 0 else { continue }
            var timeout = timeval(tv_sec: 1, tv_usec: 0)
            setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var buffer = [UInt8](repeating: 0, count: 512)
            let count = read(connection, &buffer, buffer.count)
            close(connection)
            let text = String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self)
            let line = text.split(separator: "\r\n", maxSplits: 1).first.map(String.init) ?? "(connected, sent nothing)"
            state.lock.withLock { state.received.append(line) }
        }
    }
}
