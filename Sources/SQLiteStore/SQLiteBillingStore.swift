import BillingStore
import Foundation
import GRDB

/// The billing state in one SQLite file (WAL, a busy timeout), shared by every CGI and FastCGI process on a host.
///
/// Durability: every commit is synced to disk (`synchronous = FULL`) before its request is answered, except a
/// checkout's claim and its abandonment, which are leases that may be lost (their rows are written again by the
/// checkout's next commit, which syncs the WAL up to and including them).
public final class SQLiteBillingStore: BillingStore {
    private let pool: DatabasePool
    private let writes: GroupCommit

    /// How long a write waits for another process's write before the request gets a 503.
    public static let defaultBusyTimeoutSeconds = 5.0

    /// Opens (creating it if needed) the database at `path` and runs the migrations.
    public init(path: String, busyTimeoutSeconds: Double = SQLiteBillingStore.defaultBusyTimeoutSeconds) throws(
        StoreError
    ) {
        var configuration = Configuration()
        configuration.busyMode = .callback(Self.busyWait(timeoutSeconds: busyTimeoutSeconds))
        configuration.journalMode = .wal
        configuration.maximumReaderCount = 4
        configuration.label = "billing"
        do {
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) {
                throw StoreError.cannotOpen("the directory \(directory) does not exist")
            }
            pool = try DatabasePool(path: path, configuration: configuration)
            writes = GroupCommit(pool: pool)
            // GRDB sets `synchronous = NORMAL` on a WAL pool's writer, under which a power cut can undo the last
            // commits: an applied webhook event that Stripe was told about would be lost for good.
            try pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
            try Migrations.run(pool)
        } catch let error as StoreError {
            throw error
        } catch {
            throw .cannotOpen("\(path): \(Self.describe(error))")
        }
    }

    public func customer(forUser userID: String) async throws(StoreError) -> String? {
        try await read { db in try Self.customer(of: userID, in: db) }
    }

    public func user(forCustomer customerID: String) async throws(StoreError) -> String? {
        try await read { db in
            try String.fetchOne(
                db.cachedStatement(sql: "SELECT user_id FROM customers WHERE customer_id = ?"), arguments: [customerID])
        }
    }

    public func subscriptions(forUser userID: String) async throws(StoreError) -> [SubscriptionRecord] {
        try await read { db in try Self.subscriptions(of: userID, in: db) }
    }

    public func checkoutState(forUser userID: String) async throws(StoreError) -> CheckoutState {
        try await read { db in
            let slot = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM checkout_slots WHERE user_id = ? AND state = 'open'"),
                arguments: [userID])
            return CheckoutState(
                customerID: try Self.customer(of: userID, in: db),
                subscriptions: try Self.subscriptions(of: userID, in: db), openSession: slot.flatMap(Self.openSession))
        }
    }

    /// Decided in an immediate transaction: the write lock is taken before the read, so two processes never
    /// both decide on what they read.
    public func beginCheckout(userID: String, request: SessionRequest, now: Double, leaseUntil: Double)
        async throws(StoreError) -> CheckoutClaim
    {
        let outcome = try await write(durable: false) { db -> CheckoutClaim in
            let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM checkout_slots WHERE user_id = ?"), arguments: [userID])
            var replacing: OpenSession?
            if let row {
                let state: String = row["state"]
                if state == "creating", let lease: Double = row["lease_until"], lease > now { return .busy }
                if state == "open", let session = Self.openSession(row), session.isOpen(at: now) {
                    if session.request == request { return .reuse(session) }
                    replacing = session
                }
            }
            let claim = UUID().uuidString.lowercased()
            try db.execute(
                cached: """
                    INSERT INTO checkout_slots (user_id, state, claim, lease_until, session_id, url, price_id,
                        success_url, cancel_url, expires_at)
                    VALUES (?, 'creating', ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (user_id) DO UPDATE SET state = 'creating', claim = excluded.claim,
                        lease_until = excluded.lease_until, session_id = excluded.session_id, url = excluded.url,
                        price_id = excluded.price_id, success_url = excluded.success_url,
                        cancel_url = excluded.cancel_url, expires_at = excluded.expires_at
                    """,
                arguments: [
                    userID, claim, leaseUntil, replacing?.sessionID, replacing?.url, request.priceID,
                    request.successURL, request.cancelURL, replacing?.expiresAt,
                ])
            return .claimed(claim: claim, replacing: replacing)
        }
        if case .claimed(let claim, .some) = outcome {
            // This claim is about to expire the open session at Stripe: it must survive a power cut, or the slot
            // would come back naming a session that no longer takes payment. Rewriting the row in a synced commit
            // syncs the claim with it (one WAL, in order).
            try await write { db in
                try db.execute(
                    cached: "UPDATE checkout_slots SET lease_until = lease_until WHERE user_id = ? AND claim = ?",
                    arguments: [userID, claim])
            }
        }
        return outcome
    }

    public func finishCheckout(userID: String, claim: String, session: OpenSession) async throws(StoreError) -> Bool {
        try await write { db in
            try db.execute(
                cached: """
                    UPDATE checkout_slots SET state = 'open', claim = NULL, lease_until = NULL, session_id = ?, url = ?,
                        price_id = ?, success_url = ?, cancel_url = ?, expires_at = ?
                    WHERE user_id = ? AND state = 'creating' AND claim = ?
                    """,
                arguments: [
                    session.sessionID, session.url, session.request.priceID, session.request.successURL,
                    session.request.cancelURL, session.expiresAt, userID, claim,
                ])
            return db.changesCount == 1
        }
    }

    public func abandonCheckout(userID: String, claim: String) async throws(StoreError) {
        try await write(durable: false) { db in
            try db.execute(
                cached: "DELETE FROM checkout_slots WHERE user_id = ? AND state = 'creating' AND claim = ?",
                arguments: [userID, claim])
        }
    }

    public func isProcessed(eventID: String) async throws(StoreError) -> Bool {
        try await read { db in
            try Bool.fetchOne(
                db.cachedStatement(sql: "SELECT 1 FROM processed_events WHERE id = ?"), arguments: [eventID]) ?? false
        }
    }

    public func apply(_ change: StateChange, eventID: String, eventType: String, now: Double)
        async throws(StoreError) -> Bool
    {
        try await write { db in
            try db.execute(
                cached: "INSERT INTO processed_events (id, type, processed_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                arguments: [eventID, eventType, now])
            guard db.changesCount == 1 else { return false }
            if let link = change.customerLink {
                // A user keeps their first customer; a customer belongs to one user.
                try db.execute(
                    cached: "INSERT INTO customers (user_id, customer_id, linked_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    arguments: [link.userID, link.customerID, now])
            }
            if let subscription = change.subscription {
                try Self.upsert(subscription, in: db)
            }
            if let closed = change.closedSessionID {
                try db.execute(
                    cached: "DELETE FROM checkout_slots WHERE session_id = ? AND state = 'open'", arguments: [closed])
            }
            return true
        }
    }

    public func export() async throws(StoreError) -> StoreSnapshot {
        try await read { db in
            let customers = try Row.fetchAll(db, sql: "SELECT user_id, customer_id FROM customers ORDER BY user_id")
                .map { CustomerLink(userID: $0["user_id"], customerID: $0["customer_id"]) }
            let subscriptions = try Row.fetchAll(db, sql: "SELECT * FROM subscriptions ORDER BY id").map(Self.subscription)
            let sessions = try Row.fetchAll(
                db, sql: "SELECT * FROM checkout_slots WHERE state = 'open' ORDER BY user_id"
            ).compactMap { row in Self.openSession(row).map { UserSession(userID: row["user_id"], session: $0) } }
            let events = try Row.fetchAll(db, sql: "SELECT * FROM processed_events ORDER BY id").map {
                ProcessedEvent(id: $0["id"], type: $0["type"], processedAt: $0["processed_at"])
            }
            return StoreSnapshot(
                customers: customers, subscriptions: subscriptions, openSessions: sessions, processedEvents: events)
        }
    }

    public func importSnapshot(_ snapshot: StoreSnapshot) async throws(StoreError) {
        let refused = try await write { db -> Bool in
            for table in ["customers", "subscriptions", "checkout_slots", "processed_events"] {
                if try Bool.fetchOne(db, sql: "SELECT 1 FROM \(table) LIMIT 1") == true { return true }
            }
            for link in snapshot.customers {
                try db.execute(
                    sql: "INSERT INTO customers (user_id, customer_id, linked_at) VALUES (?, ?, 0)",
                    arguments: [link.userID, link.customerID])
            }
            for subscription in snapshot.subscriptions { try Self.upsert(subscription, in: db) }
            for entry in snapshot.openSessions {
                let session = entry.session
                try db.execute(
                    sql: """
                        INSERT INTO checkout_slots (user_id, state, session_id, url, price_id, success_url, cancel_url,
                            expires_at) VALUES (?, 'open', ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        entry.userID, session.sessionID, session.url, session.request.priceID,
                        session.request.successURL, session.request.cancelURL, session.expiresAt,
                    ])
            }
            for event in snapshot.processedEvents {
                try db.execute(
                    sql: "INSERT INTO processed_events (id, type, processed_at) VALUES (?, ?, ?)",
                    arguments: [event.id, event.type, event.processedAt])
            }
            return false
        }
        if refused { throw .refused("the store is not empty") }
    }

    // MARK: - Rows

    private static func customer(of userID: String, in db: Database) throws -> String? {
        try String.fetchOne(
            db.cachedStatement(sql: "SELECT customer_id FROM customers WHERE user_id = ?"), arguments: [userID])
    }

    private static func subscriptions(of userID: String, in db: Database) throws -> [SubscriptionRecord] {
        try Row.fetchAll(
            db.cachedStatement(
                sql: "SELECT * FROM subscriptions WHERE user_id = ? ORDER BY created DESC, fetched_at DESC, id DESC"),
            arguments: [userID]
        ).map(subscription)
    }

    private static func upsert(_ subscription: SubscriptionRecord, in db: Database) throws {
        // A read from Stripe older than the stored one never replaces it: two events re-read concurrently
        // cannot roll the state back whatever order their transactions commit in.
        try db.execute(
            cached: """
                INSERT INTO subscriptions (id, user_id, customer_id, status, price_id, current_period_end,
                    cancel_at_period_end, created, fetched_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, customer_id = excluded.customer_id,
                    status = excluded.status, price_id = excluded.price_id,
                    current_period_end = excluded.current_period_end,
                    cancel_at_period_end = excluded.cancel_at_period_end, created = excluded.created,
                    fetched_at = excluded.fetched_at
                WHERE excluded.fetched_at >= subscriptions.fetched_at
                """,
            arguments: [
                subscription.id, subscription.userID, subscription.customerID, subscription.status,
                subscription.priceID, subscription.currentPeriodEnd, subscription.cancelAtPeriodEnd,
                subscription.created, subscription.fetchedAt,
            ])
    }

    private static func subscription(_ row: Row) -> SubscriptionRecord {
        SubscriptionRecord(
            id: row["id"], userID: row["user_id"], customerID: row["customer_id"], status: row["status"],
            priceID: row["price_id"], currentPeriodEnd: row["current_period_end"],
            cancelAtPeriodEnd: row["cancel_at_period_end"], created: row["created"], fetchedAt: row["fetched_at"])
    }

    private static func openSession(_ row: Row) -> OpenSession? {
        guard let id: String = row["session_id"], let url: String = row["url"], let expires: Int64 = row["expires_at"]
        else { return nil }
        return OpenSession(
            sessionID: id, url: url,
            request: SessionRequest(priceID: row["price_id"], successURL: row["success_url"], cancelURL: row["cancel_url"]),
            expiresAt: expires)
    }

    // MARK: - Transactions

    /// A read on the caller's thread. A WAL read never waits for a writer, and it is a few small indexed
    /// queries: done in place, it saves the two thread switches of a hop to GRDB's reader queue and back, which
    /// cost more than the read itself.
    private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(StoreError) -> T {
        do {
            return try Self.readInPlace(pool, body)
        } catch {
            throw .unavailable(Self.describe(error))
        }
    }

    private static func readInPlace<T>(_ pool: DatabasePool, _ body: (Database) throws -> T) throws -> T {
        try pool.read(body)
    }

    /// One immediate transaction: a writer takes the write lock before it reads, so that two processes can never
    /// both decide on what they read (the busy timeout bounds the wait). The transaction may hold other writes of
    /// this process too (`GroupCommit`). A commit that is not `durable` is not synced (`synchronous = NORMAL`):
    /// a power cut may undo it, never corrupt it.
    private func write<T: Sendable>(durable: Bool = true, _ body: @escaping @Sendable (Database) throws -> T)
        async throws(StoreError) -> T
    {
        do {
            return try await writes.write(durable: durable, body)
        } catch {
            throw .unavailable(Self.describe(error))
        }
    }

    /// SQLite's own busy timeout sleeps 1, 2, 5, 10 … up to 100 ms between tries; another process's write holds
    /// the lock for well under a millisecond, so those sleeps leave it idle while requests wait (at c=32, a
    /// p99 of 200 ms). Tries every 200 µs instead, until the sleeps add up to the timeout.
    static func busyWait(timeoutSeconds: Double) -> Database.BusyCallback {
        let step: UInt32 = 200
        let tries = Int(min(max(timeoutSeconds, 0), 3600) * 1_000_000 / Double(step))
        return { attempt in
            guard attempt < tries else { return false }
            usleep(step)
            return true
        }
    }

    /// The writer connection's `synchronous` setting as the last write left it (2 FULL, 1 NORMAL), for tests.
    func writerSynchronous() async throws -> Int {
        try await pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError {
            return "SQLite \(error.resultCode): \(error.message ?? "no message")"
        }
        return String(describing: error)
    }
}
