import Foundation
import Testing

/// The whole billing loop through the binary piped fake CGI environments, with the state in a real SQLite file or
/// a real PostgreSQL database (each test that takes an engine runs on both), and the stand-in playing Stripe (its
/// signed events delivered through the binary's webhook).
@Suite("Billing loop end to end", .serialized)
struct BillingLoopTests {
    let harness: CheckoutHarness

    init() async throws {
        harness = try await CheckoutHarness()
    }

    private let database = LoopDatabase()

    /// The loop's settings, on the engine `use` chose (the harness's SQLite file until then).
    private var loopSettings: [String: String] {
        var settings = harness.loopSettings
        if let url = database.url {
            settings["DATABASE_URL"] = url
            // Room for a connection on a loaded two-CPU machine; the outage tests set their own.
            settings["DATABASE_TIMEOUT_SECONDS"] = "20"
        }
        return settings
    }

    private var loop: [String: String?] { loopSettings.mapValues { $0 } }

    /// Points this test's loop settings at a new database of `engine`.
    private func use(_ engine: LoopEngine) throws {
        database.url = try engine.databaseURL(harness)
    }

    private func checkout(_ token: String, body: String = "{}") async throws -> CGIResponse {
        try await harness.cgi(headers: harness.authorized(token), body: body, settings: loop).response
    }

    private func subscription(_ token: String) async throws -> CGIResponse {
        try await harness.cgi(
            method: "GET", path: CheckoutHarness.prefix + "/subscription", headers: harness.authorized(token),
            body: "", contentType: nil, settings: loop
        ).response
    }

    private func portal(_ token: String, body: String = "") async throws -> CGIResponse {
        try await harness.cgi(
            path: CheckoutHarness.prefix + "/portal", headers: harness.authorized(token), body: body,
            contentType: body.isEmpty ? nil : "application/json", settings: loop
        ).response
    }

    /// Delivers one signed event to the webhook, as Stripe would.
    private func deliver(_ event: Simulation.Event, signature: String? = nil) async throws -> CGIResponse {
        try await harness.cgi(
            path: CheckoutHarness.prefix + "/webhook", headers: ["Stripe-Signature": signature ?? event.signature],
            body: event.body, contentType: "application/json; charset=utf-8", settings: loop
        ).response
    }

    private func deliverAll(_ simulation: Simulation) async throws {
        for event in simulation.events {
            let response = try await deliver(event)
            #expect(response.status == 200, "\(event.type): \(response.bodyText)")
            #expect(response.bodyText == #"{"received":true}"#)
        }
    }

    private static func sessionID(_ response: CGIResponse) throws -> String {
        let url = try #require(response.object?["url"] as? String)
        return try #require(url.split(separator: "/").last.map(String.init))
    }

    /// The sessions asked of Stripe: one per Idempotency-Key, however many tries a slow stand-in caused; a
    /// create without a key counts as one more.
    private func sessionsCreated() async throws -> Int {
        let creates = try await harness.standIn.recordedRequests().filter {
            $0.method == "POST" && $0.path == "/v1/checkout/sessions"
        }
        return Set(creates.map { $0.idempotencyKey ?? UUID().uuidString }).count
    }

    private func stripeCalls(_ method: String, _ prefix: String) async throws -> [RecordedRequest] {
        try await harness.standIn.recordedRequests().filter { $0.method == method && $0.path.hasPrefix(prefix) }
    }

    @Test(
        "checkout → complete → webhook → active → 409 → portal → cancel → canceled → checkout again with the same customer", arguments: LoopEngine.allCases)
    func wholeLoop(engine: LoopEngine) async throws {
        try use(engine)
        let token = try await Tokens.make(sub: "user_loop", email: "loop@example.com")
        let none = try await subscription(token)
        #expect(none.status == 200)
        #expect(
            none.bodyText
                == #"{"status":"none","active":false,"plan":null,"price_id":null,"current_period_end":null,"cancel_at_period_end":false}"#
        )
        let first = try await checkout(token)
        #expect(first.status == 200)
        let again = try await checkout(token)
        #expect(again.bodyText == first.bodyText, "the open session is answered again")
        #expect(try await sessionsCreated() == 1, "no second Stripe call")

        let paid = try await harness.standIn.complete(sessionID: try Self.sessionID(first))
        #expect(paid.events.map(\.type) == [
            "checkout.session.completed", "customer.subscription.created", "customer.subscription.updated",
            "invoice.paid",
        ])
        try await deliverAll(paid)
        let active = try await subscription(token)
        #expect(active.object?["status"] as? String == "active")
        #expect(active.object?["active"] as? Bool == true)
        #expect(active.object?["price_id"] as? String == StandIn.basicPrice)
        #expect(active.object?["current_period_end"] is Int)

        let subscribed = try await checkout(token)
        #expect(subscribed.status == 409)
        #expect(subscribed.bodyText == #"{"detail":"Already subscribed"}"#)

        let portal = try await portal(token)
        #expect(portal.status == 200)
        #expect((portal.object?["url"] as? String)?.hasPrefix("https://billing.stripe.com/p/session/") == true)
        let portalCall = try #require(try await stripeCalls("POST", "/v1/billing_portal/sessions").first)
        let customer = try #require(portalCall.param("customer"))
        #expect(portalCall.param("return_url") == CheckoutHarness.frontend + "/dashboard")

        let subscriptionID = try #require(paid.subscriptionID)
        try await deliverAll(try await harness.standIn.updateSubscription(id: subscriptionID, ["status": "canceled"]))
        let canceled = try await subscription(token)
        #expect(canceled.object?["status"] as? String == "canceled")
        #expect(canceled.object?["active"] as? Bool == false)

        let renewed = try await checkout(token)
        #expect(renewed.status == 200)
        #expect(renewed.bodyText != first.bodyText, "a completed session is never answered again")
        let creates = try await stripeCalls("POST", "/v1/checkout/sessions")
        #expect(try await sessionsCreated() == 2)
        #expect(creates.last?.param("customer") == customer, "the same Stripe customer")
        #expect(creates.last?.param("customer_email") == nil)
    }

    @Test("a repeated event changes nothing; events out of order never roll the state back", arguments: LoopEngine.allCases)
    func duplicatesAndOrder(engine: LoopEngine) async throws {
        try use(engine)
        let token = try await Tokens.make(sub: "user_order")
        let paid = try await harness.standIn.complete(sessionID: try Self.sessionID(try await checkout(token)))
        // Last first: the subscription's final state, then the stale "created (incomplete)" snapshot.
        for event in paid.events.reversed() { #expect(try await deliver(event).status == 200) }
        for event in paid.events { #expect(try await deliver(event).status == 200) }
        #expect(try await subscription(token).object?["status"] as? String == "active")
        let reads = try await stripeCalls("GET", "/v1/subscriptions/")
        #expect(reads.count == paid.events.count, "a repeated event is not even re-read")
    }

    @Test("a webhook with a wrong signature, a stale one, or none is a 400 that changes nothing", arguments: LoopEngine.allCases)
    func badSignatures(engine: LoopEngine) async throws {
        try use(engine)
        let token = try await Tokens.make(sub: "user_forged")
        let paid = try await harness.standIn.complete(
            sessionID: try Self.sessionID(try await checkout(token)), deliver: ["none": true, "badSignature": true])
        for event in paid.events {
            let response = try await deliver(event)
            #expect(response.status == 400)
            #expect(response.bodyText == #"{"detail":"Invalid signature"}"#)
        }
        let event = try #require(paid.events.first)
        #expect(try await deliver(event, signature: "").status == 400)
        #expect(try await deliver(event, signature: "t=1,v1=00").status == 400)
        #expect(try await subscription(token).object?["status"] as? String == "none")
    }

    @Test("Stripe unreadable during a webhook: 5xx and nothing recorded; applied when Stripe delivers it again", arguments: LoopEngine.allCases)
    func stripeDownDuringWebhook(engine: LoopEngine) async throws {
        try use(engine)
        let token = try await Tokens.make(sub: "user_outage")
        let paid = try await harness.standIn.complete(sessionID: try Self.sessionID(try await checkout(token)))
        let updated = try #require(paid.events.first { $0.type == "customer.subscription.updated" })
        try await harness.standIn.inject(
            Array(repeating: ["kind": "status", "status": 503, "path": "/v1/subscriptions/"], count: 3))
        let failed = try await deliver(updated)
        #expect(failed.status >= 500)
        #expect(try await subscription(token).object?["status"] as? String == "none")
        let redelivered = try await deliver(updated)
        #expect(redelivered.status == 200)
        #expect(try await subscription(token).object?["status"] as? String == "active")
    }

    @Test("ten concurrent checkouts for one user, as CGI processes: one session, every answer its URL", arguments: LoopEngine.allCases)
    func concurrentCheckouts(engine: LoopEngine) async throws {
        try use(engine)
        let token = try await Tokens.make(sub: "user_tabs")
        try await harness.standIn.setLatency(milliseconds: 300)
        let responses = try await withThrowingTaskGroup(of: CGIResponse.self) { group in
            for _ in 0..<10 { group.addTask { try await checkout(token) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(responses.map(\.status) == Array(repeating: 200, count: 10))
        #expect(Set(responses.map(\.bodyText)).count == 1)
        #expect(try await sessionsCreated() == 1)
    }

    @Test("ten concurrent checkouts for one user through one FastCGI process: one session; the loop served there too", arguments: LoopEngine.allCases)
    func concurrentCheckoutsFastCGI(engine: LoopEngine) async throws {
        try use(engine)
        let server = try await FastCGIProcess(settings: loopSettings)
        defer { server.signal(SIGKILL) }
        let token = try await Tokens.make(sub: "user_fcgi")
        try await harness.standIn.setLatency(milliseconds: 300)
        let responses = try await server.parallelRequests(count: 10, headers: harness.authorized(token))
        try await harness.standIn.setLatency(milliseconds: 0)
        #expect(responses.map(\.status) == Array(repeating: 200, count: 10))
        #expect(Set(responses.map(\.bodyText)).count == 1)
        #expect(try await sessionsCreated() == 1)
        let paid = try await harness.standIn.complete(sessionID: try Self.sessionID(try #require(responses.first)))
        for event in paid.events {
            let response = try await server.request(
                path: CheckoutHarness.prefix + "/webhook", headers: ["Stripe-Signature": event.signature],
                body: event.body)
            #expect(response.status == 200)
        }
        let status = try await server.request(
            method: "GET", path: CheckoutHarness.prefix + "/subscription", headers: harness.authorized(token), body: "",
            contentType: nil)
        #expect(status.object?["active"] as? Bool == true)
    }

    @Test("a plan change with a session open: the old session is expired at Stripe, a new one created", arguments: LoopEngine.allCases)
    func planChange(engine: LoopEngine) async throws {
        try use(engine)
        let basic = try await checkout(try await Tokens.make(sub: "user_plan"))
        let pro = try await checkout(try await Tokens.make(sub: "user_plan", plan: "pro"))
        #expect(pro.status == 200)
        #expect(pro.bodyText != basic.bodyText)
        let expired = try await stripeCalls("POST", "/v1/checkout/sessions/")
        #expect(expired.map(\.path) == ["/v1/checkout/sessions/\(try Self.sessionID(basic))/expire"])
        let creates = try await stripeCalls("POST", "/v1/checkout/sessions").filter { $0.path == "/v1/checkout/sessions" }
        #expect(creates.last?.param("line_items[0][price]") == StandIn.proPrice)
    }

    @Test("portal: 409 without a customer, 500 when Stripe has no portal configuration, 422 for a bad return_url", arguments: LoopEngine.allCases)
    func portalErrors(engine: LoopEngine) async throws {
        try use(engine)
        let token = try await Tokens.make(sub: "user_portal")
        let noAccount = try await portal(token)
        #expect(noAccount.status == 409)
        #expect(noAccount.bodyText == #"{"detail":"No billing account"}"#)
        try await deliverAll(
            try await harness.standIn.complete(sessionID: try Self.sessionID(try await checkout(token))))
        let bad = try await portal(token, body: #"{"return_url":"https://evil.example/x"}"#)
        #expect(bad.status == 422)
        try await harness.standIn.setPortalConfigured(false)
        let (response, process) = try await harness.cgi(
            path: CheckoutHarness.prefix + "/portal", headers: harness.authorized(token), body: "", contentType: nil,
            settings: loop)
        #expect(response.status == 500)
        #expect(response.bodyText == #"{"detail":"Billing portal is not configured"}"#)
        #expect(process.stderrText.contains("No configuration provided"))
    }

    @Test("routes: 404 for other paths and, stateless, for the loop's; 405 with Allow per route; no CORS on the webhook")
    func routes() async throws {
        let token = try await Tokens.make()
        let other = try await harness.cgi(path: CheckoutHarness.prefix + "/other", settings: loop).response
        #expect(other.status == 404)
        let stateless = try await harness.cgi(
            method: "GET", path: CheckoutHarness.prefix + "/subscription", headers: harness.authorized(token),
            body: "", contentType: nil
        ).response
        #expect(stateless.status == 404)
        let post = try await harness.cgi(
            path: CheckoutHarness.prefix + "/subscription", headers: harness.authorized(token), settings: loop
        ).response
        #expect(post.status == 405)
        #expect(post.headers["allow"] == "GET")
        let get = try await harness.cgi(
            method: "GET", path: CheckoutHarness.prefix + "/webhook", body: "", contentType: nil, settings: loop
        ).response
        #expect(get.status == 405)
        #expect(get.headers["allow"] == "POST")
        var cors = loop
        cors["CORS_ORIGINS"] = CheckoutHarness.frontend
        let webhook = try await harness.cgi(
            path: CheckoutHarness.prefix + "/webhook", headers: ["Origin": CheckoutHarness.frontend], settings: cors
        ).response
        #expect(webhook.status == 400)
        #expect(webhook.headers["access-control-allow-origin"] == nil)
        let browser = try await harness.cgi(
            method: "GET", path: CheckoutHarness.prefix + "/subscription",
            headers: harness.authorized(token).merging(["Origin": CheckoutHarness.frontend]) { $1 }, body: "",
            contentType: nil, settings: cors
        ).response
        #expect(browser.headers["access-control-allow-origin"] == CheckoutHarness.frontend)
    }

    @Test("a state that cannot be opened: 500 Billing is not configured, the reason in the log")
    func storeCannotOpen() async throws {
        var broken = loop
        broken["DATABASE_URL"] = "sqlite:/nonexistent-billing-dir/billing.sqlite"
        let (response, process) = try await harness.cgi(
            headers: harness.authorized(try await Tokens.make()), settings: broken)
        #expect(response.status == 500)
        #expect(response.bodyText == #"{"detail":"Billing is not configured"}"#)
        #expect(process.stderrText.contains("does not exist"))
    }

    @Test("a state locked past its busy timeout: 503 Billing state unavailable with Retry-After, nothing written")
    func storeLocked() async throws {
        let token = try await Tokens.make(sub: "user_locked")
        #expect(try await subscription(token).status == 200)  // creates and migrates the file
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        holder.arguments = [harness.databasePath]
        let input = Pipe()
        holder.standardInput = input
        holder.standardOutput = FileHandle.nullDevice
        try holder.run()
        defer { holder.terminate() }
        input.fileHandleForWriting.write(Data("BEGIN EXCLUSIVE;\nSELECT 1;\n".utf8))
        try await Task.sleep(for: .milliseconds(300))
        let response = try await checkout(token)
        #expect(response.status == 503)
        #expect(response.bodyText == #"{"detail":"Billing state unavailable"}"#)
        #expect(response.headers["retry-after"] == "1")
        input.fileHandleForWriting.write(Data("ROLLBACK;\n.quit\n".utf8))
        holder.waitUntilExit()
        #expect(try await stripeCalls("POST", "/v1/checkout/sessions").isEmpty)
    }

    @Test("PostgreSQL down at start: a CGI request gets 503 Billing state unavailable; FastCGI refuses to start with one line; the password is never told")
    func postgresDownAtStart() async throws {
        var url = try TestPostgres.serverURL()
        url.port = try TestPostgres.closedPort()
        url.password = "pw-marker-5c1d"
        var down = loop
        down["DATABASE_URL"] = url.string
        down["DATABASE_TIMEOUT_SECONDS"] = "2"
        let (response, process) = try await harness.cgi(
            headers: harness.authorized(try await Tokens.make()), settings: down)
        #expect(response.status == 503)
        #expect(response.bodyText == #"{"detail":"Billing state unavailable"}"#)
        #expect(response.headers["retry-after"] == "1")
        #expect(process.stderrText.contains("billing state unavailable"))
        #expect(!process.stderrText.contains("pw-marker-5c1d"))
        // --check opens the store as a FastCGI start does, and stops there.
        let server = try await ProcessRunner.run(
            harness.binary, arguments: ["--check"], environment: down.compactMapValues { $0 })
        #expect(server.exitCode == 69, "EX_UNAVAILABLE: down is not a settings problem")
        #expect(server.stderrText.split(separator: "\n").count == 1, "\(server.stderrText)")
        #expect(
            server.stderrText.hasPrefix("billing-checkout: cannot open the billing state (DATABASE_URL): postgres://"))
        #expect(!server.stderrText.contains("pw-marker-5c1d"))
    }

    @Test("PostgreSQL refusing the password: 500 Billing is not configured, the reason in the log without the password")
    func postgresRefuses() async throws {
        var url = try TestPostgres.serverURL()
        url.password = "pw-marker-9e2a"
        var refused = loop
        refused["DATABASE_URL"] = url.string
        let (response, process) = try await harness.cgi(
            headers: harness.authorized(try await Tokens.make()), settings: refused)
        #expect(response.status == 500)
        #expect(response.bodyText == #"{"detail":"Billing is not configured"}"#)
        #expect(process.stderrText.contains("28P01"))
        #expect(!process.stderrText.contains("pw-marker-9e2a"))
    }

    @Test("--copy-state-from: a SQLite state copied into an empty PostgreSQL database serves on; a second copy is refused")
    func copyFromSQLite() async throws {
        let paying = try await Tokens.make(sub: "user_copied")
        try await deliverAll(
            try await harness.standIn.complete(sessionID: try Self.sessionID(try await checkout(paying))))
        let waiting = try await Tokens.make(sub: "user_open")
        let open = try await checkout(waiting)
        #expect(try await sessionsCreated() == 2)
        let sqliteStatus = try await subscription(paying).bodyText

        try use(.postgres)
        let environment = loopSettings
        let copy = try await ProcessRunner.run(
            harness.binary, arguments: ["--copy-state-from", "sqlite:\(harness.databasePath)"], environment: environment)
        #expect(copy.exitCode == 0, "\(copy.stderrText)")
        #expect(copy.stdoutText == "copied 1 customers, 1 subscriptions, 1 open sessions, 4 processed events\n")
        // The same answers from PostgreSQL: the subscription, and the open session again without a Stripe call.
        #expect(try await subscription(paying).bodyText == sqliteStatus)
        #expect(try await checkout(waiting).bodyText == open.bodyText)
        #expect(try await sessionsCreated() == 2)
        let again = try await ProcessRunner.run(
            harness.binary, arguments: ["--copy-state-from", "sqlite:\(harness.databasePath)"], environment: environment)
        #expect(again.exitCode == 1)
        #expect(again.stderrText == "billing-checkout: --copy-state-from: the store is not empty\n")
    }
}
