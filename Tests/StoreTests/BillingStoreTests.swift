import BillingStore
import Foundation
import PostgresStore
@testable import SQLiteStore
import Testing

/// Both engines against real databases: a new SQLite file, or a new database on the PostgreSQL server
/// `BILLING_TEST_POSTGRES_URL` names (scripts/test starts one), for each test.
@Suite struct BillingStoreTests {
    static func path() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("billing-\(UUID().uuidString).sqlite").path
    }

    static let request = SessionRequest(
        priceID: "price_basic", successURL: "https://app.example.com/ok", cancelURL: "https://app.example.com/no")

    static func session(_ id: String, _ request: SessionRequest = request, expiresAt: Int64 = 2_000_000_000)
        -> OpenSession
    {
        OpenSession(sessionID: id, url: "https://checkout.stripe.com/c/pay/\(id)", request: request, expiresAt: expiresAt)
    }

    static func subscription(_ status: String, fetchedAt: Double, id: String = "sub_1", user: String = "user_1")
        -> SubscriptionRecord
    {
        SubscriptionRecord(
            id: id, userID: user, customerID: "cus_1", status: status, priceID: "price_basic",
            currentPeriodEnd: 1_900_000_000, cancelAtPeriodEnd: false, created: 1_800_000_000, fetchedAt: fetchedAt)
    }

    @Test("a new database is migrated from empty; reopening it keeps the data and migrates nothing again",
        arguments: Engine.allCases)
    func migrations(engine: Engine) async throws {
        let database = try await engine.newDatabase()
        let store = try await database.open()
        #expect(try await store.apply(StateChange(customerLink: ("user_1", "cus_1")), eventID: "evt_1", eventType: "t", now: 1))
        let again = try await database.open()
        #expect(try await again.customer(forUser: "user_1") == "cus_1")
        #expect(try await again.user(forCustomer: "cus_1") == "user_1")
        switch database {
        case .sqlite(let path):
            #expect(try Self.sqlite(path, "PRAGMA user_version;") == "1")
            #expect(try Self.sqlite(path, "PRAGMA journal_mode;") == "wal")
        case .postgres(let url):
            #expect(try await Postgres.psql(url, "SELECT version FROM billing_checkout_schema") == "1")
        }
    }

    @Test("a file whose schema is newer than the binary's, or a missing directory, cannot be opened")
    func cannotOpen() throws {
        let path = Self.path()
        _ = try Self.sqlite(path, "PRAGMA user_version = 99;")
        #expect(throws: StoreError.self) { try SQLiteBillingStore(path: path) }
        #expect(throws: StoreError.self) { try SQLiteBillingStore(path: "/nonexistent-dir/billing.sqlite") }
    }

    @Test("one open session per user: claim, finish, the same request reuses it, another replaces it", arguments: Engine.allCases)
    func openSession(engine: Engine) async throws {
        let store = try await engine.newDatabase().open()
        guard case .claimed(let claim, nil) = try await store.beginCheckout(
            userID: "user_1", request: Self.request, now: 100, leaseUntil: 130)
        else { Issue.record("expected a claim"); return }
        #expect(try await store.beginCheckout(userID: "user_1", request: Self.request, now: 101, leaseUntil: 131) == .busy)
        #expect(try await store.finishCheckout(userID: "user_1", claim: claim, session: Self.session("cs_1")))
        #expect(
            try await store.beginCheckout(userID: "user_1", request: Self.request, now: 102, leaseUntil: 132)
                == .reuse(Self.session("cs_1")))
        var other = Self.request
        other.priceID = "price_pro"
        guard case .claimed(let second, let replacing) = try await store.beginCheckout(
            userID: "user_1", request: other, now: 103, leaseUntil: 133)
        else { Issue.record("expected a claim"); return }
        #expect(replacing == Self.session("cs_1"))
        #expect(try await store.finishCheckout(userID: "user_1", claim: second, session: Self.session("cs_2", other)))
        #expect(
            try await store.beginCheckout(userID: "user_1", request: other, now: 104, leaseUntil: 134)
                == .reuse(Self.session("cs_2", other)))
    }

    @Test("an expired session is never reused, a lapsed claim can be taken over, and a lost claim cannot finish", arguments: Engine.allCases)
    func expiryAndLeases(engine: Engine) async throws {
        let store = try await engine.newDatabase().open()
        guard case .claimed(let first, _) = try await store.beginCheckout(
            userID: "u", request: Self.request, now: 100, leaseUntil: 110)
        else { Issue.record("expected a claim"); return }
        guard case .claimed(let second, nil) = try await store.beginCheckout(
            userID: "u", request: Self.request, now: 111, leaseUntil: 140)
        else { Issue.record("a lapsed claim was not taken over"); return }
        #expect(try await store.finishCheckout(userID: "u", claim: first, session: Self.session("cs_old")) == false)
        #expect(try await store.finishCheckout(userID: "u", claim: second, session: Self.session("cs_new", expiresAt: 200)))
        guard case .claimed(_, nil) = try await store.beginCheckout(
            userID: "u", request: Self.request, now: 201, leaseUntil: 230)
        else { Issue.record("an expired session was reused or replaced"); return }
    }

    @Test("an abandoned claim empties the slot; a closed session is never answered again", arguments: Engine.allCases)
    func abandonAndClose(engine: Engine) async throws {
        let store = try await engine.newDatabase().open()
        guard case .claimed(let claim, _) = try await store.beginCheckout(
            userID: "u", request: Self.request, now: 1, leaseUntil: 100)
        else { Issue.record("expected a claim"); return }
        try await store.abandonCheckout(userID: "u", claim: claim)
        guard case .claimed(let next, _) = try await store.beginCheckout(
            userID: "u", request: Self.request, now: 2, leaseUntil: 100)
        else { Issue.record("the abandoned claim still holds the slot"); return }
        #expect(try await store.finishCheckout(userID: "u", claim: next, session: Self.session("cs_9")))
        #expect(try await store.apply(StateChange(closedSessionID: "cs_9"), eventID: "evt_c", eventType: "t", now: 3))
        guard case .claimed(_, nil) = try await store.beginCheckout(
            userID: "u", request: Self.request, now: 4, leaseUntil: 100)
        else { Issue.record("a completed session was answered again"); return }
    }

    @Test("ten connections racing for one user's slot: exactly one claim", arguments: Engine.allCases)
    func concurrentClaims(engine: Engine) async throws {
        let database = try await engine.newDatabase()
        var stores: [any BillingStore] = []
        for _ in 0..<10 { stores.append(try await database.open()) }
        let outcomes = try await withThrowingTaskGroup(of: CheckoutClaim.self) { group in
            for store in stores {
                group.addTask {
                    try await store.beginCheckout(userID: "u", request: Self.request, now: 1, leaseUntil: 100)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.filter { if case .claimed = $0 { true } else { false } }.count == 1)
        #expect(outcomes.filter { $0 == .busy }.count == 9)
    }

    @Test("one read gives what a checkout decides on: the customer, subscriptions newest first, the open session, never a claim", arguments: Engine.allCases)
    func checkoutState(engine: Engine) async throws {
        let store = try await engine.newDatabase().open()
        #expect(try await store.checkoutState(forUser: "user_1") == CheckoutState(
            customerID: nil, subscriptions: [], openSession: nil))
        var older = Self.subscription("canceled", fetchedAt: 5, id: "sub_a")
        older.created = 1_700_000_000
        _ = try await store.apply(
            StateChange(customerLink: ("user_1", "cus_1"), subscription: older), eventID: "e1", eventType: "t", now: 5)
        _ = try await store.apply(
            StateChange(subscription: Self.subscription("past_due", fetchedAt: 6, id: "sub_b")), eventID: "e2",
            eventType: "t", now: 6)
        guard case .claimed(let claim, nil) = try await store.beginCheckout(
            userID: "user_1", request: Self.request, now: 10, leaseUntil: 40)
        else { Issue.record("expected a claim"); return }
        let subscriptions = try await store.subscriptions(forUser: "user_1")
        #expect(subscriptions.map(\.id) == ["sub_b", "sub_a"])
        // A claim being created is not an open session.
        #expect(try await store.checkoutState(forUser: "user_1") == CheckoutState(
            customerID: "cus_1", subscriptions: subscriptions, openSession: nil))
        #expect(try await store.finishCheckout(userID: "user_1", claim: claim, session: Self.session("cs_1")))
        #expect(try await store.checkoutState(forUser: "user_1").openSession == Self.session("cs_1"))
        // A claim that replaces the open session holds it until it finishes; it is still not open.
        var other = Self.request
        other.cancelURL = "https://app.example.com/back"
        guard case .claimed(_, Self.session("cs_1")) = try await store.beginCheckout(
            userID: "user_1", request: other, now: 11, leaseUntil: 41)
        else { Issue.record("expected a claim replacing cs_1"); return }
        #expect(try await store.checkoutState(forUser: "user_1").openSession == nil)
        #expect(try await store.checkoutState(forUser: "user_2") == CheckoutState(
            customerID: nil, subscriptions: [], openSession: nil))
    }

    @Test(
        "the read that may claim: PostgreSQL claims for a user with nothing yet, never for one with a slot or a live subscription; SQLite never claims",
        arguments: Engine.allCases)
    func readThatMayClaim(engine: Engine) async throws {
        let store = try await engine.newDatabase().open()
        let ended: Set<String> = ["canceled", "incomplete_expired"]
        func read(_ user: String) async throws -> (state: CheckoutState, claim: String?) {
            try await store.checkoutState(
                forUser: user, claimingIfNew: Self.request, now: 10, leaseUntil: 100, endedStatuses: ended)
        }
        let new = try await read("new")
        #expect(new.state == CheckoutState(customerID: nil, subscriptions: [], openSession: nil))
        if engine == .sqlite {
            #expect(new.claim == nil)
            return
        }
        guard let claim = new.claim else { Issue.record("no claim for a user with nothing"); return }
        // The claim is the slot's: another request finds it busy, and the claim finishes as beginCheckout's would.
        #expect(try await store.beginCheckout(userID: "new", request: Self.request, now: 11, leaseUntil: 100) == .busy)
        #expect(try await read("new").claim == nil)
        #expect(try await store.finishCheckout(userID: "new", claim: claim, session: Self.session("cs_new")))
        #expect(try await read("new").state.openSession == Self.session("cs_new"))
        // A live subscription: no claim, and the state shows why. An ended one does not stop a claim.
        _ = try await store.apply(
            StateChange(
                customerLink: ("paid", "cus_p"),
                subscription: Self.subscription("past_due", fetchedAt: 5, id: "sub_p", user: "paid")),
            eventID: "e1", eventType: "t", now: 5)
        let paid = try await read("paid")
        #expect(paid.claim == nil)
        #expect(paid.state.customerID == "cus_p")
        #expect(paid.state.subscriptions.map(\.id) == ["sub_p"])
        _ = try await store.apply(
            StateChange(subscription: Self.subscription("canceled", fetchedAt: 6, id: "sub_q", user: "gone")),
            eventID: "e2", eventType: "t", now: 6)
        #expect(try await read("gone").claim != nil)
    }

    @Test("ten connections racing in the read that may claim for one new user: at most one claim, and the rest find the slot busy", arguments: Engine.allCases)
    func concurrentReadsThatMayClaim(engine: Engine) async throws {
        let database = try await engine.newDatabase()
        var stores: [any BillingStore] = []
        for _ in 0..<10 { stores.append(try await database.open()) }
        let claims = try await withThrowingTaskGroup(of: String?.self) { group in
            for store in stores {
                group.addTask {
                    try await store.checkoutState(
                        forUser: "u", claimingIfNew: Self.request, now: 1, leaseUntil: 100,
                        endedStatuses: ["canceled"]
                    ).claim
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(claims.compactMap { $0 }.count == (engine == .postgres ? 1 : 0))
        let after = try await stores[0].beginCheckout(userID: "u", request: Self.request, now: 2, leaseUntil: 100)
        #expect(engine == .postgres ? after == .busy : after != .busy)
    }

    @Test("SQLite syncs every commit but a claim's: a claim that replaces a session is synced before it is used")
    func sqliteDurability() async throws {
        let store = try SQLiteBillingStore(path: Self.path())
        #expect(try await store.writerSynchronous() == 2)  // FULL, not GRDB's NORMAL for WAL
        guard case .claimed(let claim, nil) = try await store.beginCheckout(
            userID: "u", request: Self.request, now: 1, leaseUntil: 100)
        else { Issue.record("expected a claim"); return }
        #expect(try await store.writerSynchronous() == 1)  // the claim's own commit: NORMAL
        #expect(try await store.finishCheckout(userID: "u", claim: claim, session: Self.session("cs_1")))
        #expect(try await store.writerSynchronous() == 2)
        var other = Self.request
        other.priceID = "price_pro"
        guard case .claimed(_, .some) = try await store.beginCheckout(userID: "u", request: other, now: 2, leaseUntil: 100)
        else { Issue.record("expected a claim replacing cs_1"); return }
        #expect(try await store.writerSynchronous() == 2)
        _ = try await store.apply(StateChange(customerLink: ("u", "cus_1")), eventID: "e1", eventType: "t", now: 3)
        #expect(try await store.writerSynchronous() == 2)
    }

    @Test("SQLite's busy wait tries every 200 µs until its sleeps add up to the timeout")
    func sqliteBusyWait() {
        let wait = SQLiteBillingStore.busyWait(timeoutSeconds: 0.001)
        #expect((0..<5).allSatisfy { wait($0) })
        #expect(wait(5) == false)
        #expect(SQLiteBillingStore.busyWait(timeoutSeconds: 0)(0) == false)
    }

    @Test("an event is applied once; a repeat changes nothing", arguments: Engine.allCases)
    func eventsOnce(engine: Engine) async throws {
        let store = try await engine.newDatabase().open()
        let change = StateChange(subscription: Self.subscription("active", fetchedAt: 10))
        #expect(try await store.apply(change, eventID: "evt_1", eventType: "invoice.paid", now: 10))
        #expect(try await store.isProcessed(eventID: "evt_1"))
        let repeated = StateChange(subscription: Self.subscription("canceled", fetchedAt: 20))
        #expect(try await store.apply(repeated, eventID: "evt_1", eventType: "invoice.paid", now: 20) == false)
        #expect(try await store.subscriptions(forUser: "user_1").map(\.status) == ["active"])
    }

    @Test("a subscription read older than the stored one never rolls it back", arguments: Engine.allCases)
    func noRollback(engine: Engine) async throws {
        let store = try await engine.newDatabase().open()
        _ = try await store.apply(
            StateChange(subscription: Self.subscription("active", fetchedAt: 20)), eventID: "evt_2", eventType: "t",
            now: 20)
        _ = try await store.apply(
            StateChange(subscription: Self.subscription("incomplete", fetchedAt: 10)), eventID: "evt_1",
            eventType: "t", now: 21)
        #expect(try await store.subscriptions(forUser: "user_1").map(\.status) == ["active"])
        _ = try await store.apply(
            StateChange(subscription: Self.subscription("canceled", fetchedAt: 30)), eventID: "evt_3", eventType: "t",
            now: 30)
        #expect(try await store.subscriptions(forUser: "user_1").map(\.status) == ["canceled"])
    }

    @Test("a user keeps their first customer", arguments: Engine.allCases)
    func firstCustomerStays(engine: Engine) async throws {
        let store = try await engine.newDatabase().open()
        _ = try await store.apply(StateChange(customerLink: ("u", "cus_1")), eventID: "e1", eventType: "t", now: 1)
        _ = try await store.apply(StateChange(customerLink: ("u", "cus_2")), eventID: "e2", eventType: "t", now: 2)
        #expect(try await store.customer(forUser: "u") == "cus_1")
        #expect(try await store.isProcessed(eventID: "e2"))
    }

    @Test("a write that finds the file locked by another process past the busy timeout is unavailable, and writes nothing")
    func lockedByAnotherProcess() async throws {
        let path = Self.path()
        let store = try SQLiteBillingStore(path: path, busyTimeoutSeconds: 0.3)
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        holder.arguments = [path]
        let input = Pipe()
        holder.standardInput = input
        holder.standardOutput = FileHandle.nullDevice
        try holder.run()
        defer { holder.terminate() }
        input.fileHandleForWriting.write(Data("BEGIN IMMEDIATE;\nSELECT 1;\n".utf8))
        try await Task.sleep(for: .milliseconds(300))
        await #expect(throws: StoreError.self) {
            _ = try await store.apply(StateChange(customerLink: ("u", "cus_1")), eventID: "e1", eventType: "t", now: 1)
        }
        input.fileHandleForWriting.write(Data("ROLLBACK;\n.quit\n".utf8))
        holder.waitUntilExit()
        #expect(try await store.isProcessed(eventID: "e1") == false)
        #expect(try await store.apply(StateChange(customerLink: ("u", "cus_1")), eventID: "e1", eventType: "t", now: 2))
    }

    @Test("export and import copy everything into an empty store, and refuse one that is not empty", arguments: Engine.allCases)
    func exportImport(engine: Engine) async throws {
        let source = try await engine.newDatabase().open()
        _ = try await source.apply(
            StateChange(customerLink: ("user_1", "cus_1"), subscription: Self.subscription("active", fetchedAt: 5)),
            eventID: "evt_1", eventType: "invoice.paid", now: 5)
        guard case .claimed(let claim, _) = try await source.beginCheckout(
            userID: "user_2", request: Self.request, now: 1, leaseUntil: 10)
        else { Issue.record("expected a claim"); return }
        _ = try await source.finishCheckout(userID: "user_2", claim: claim, session: Self.session("cs_2"))
        let snapshot = try await source.export()
        let target = try await engine.newDatabase().open()
        try await target.importSnapshot(snapshot)
        #expect(try await target.export() == snapshot)
        await #expect(throws: StoreError.refused("the store is not empty")) { try await target.importSnapshot(snapshot) }
    }

    /// Runs one statement with the sqlite3 shell and returns its output, trimmed.
    static func sqlite(_ path: String, _ sql: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = [path, sql]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        process.waitUntilExit()
        return String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
