import BillingStore
import Foundation
import Logging
import NIOSSL
import PostgresNIO

/// The billing state in a PostgreSQL database that several web hosts share. Each FastCGI process keeps a pool of
/// connections; a CGI process opens one. The one-open-session rule holds across hosts through PostgreSQL's own
/// unique key on the user's slot row and the row lock an upsert takes, in one statement per claim.
public final class PostgresBillingStore: BillingStore {
    private let connections: Connections
    private let timeout: Duration
    private let logger = Logger(label: "billing-checkout.postgres")

    /// Connects, runs the migrations (once, under an advisory lock, when several hosts start together) and
    /// returns the store. Throws `unavailable` when the server cannot be reached (down, refusing, too slow), and
    /// `cannotOpen` when it answers but refuses (password, database, permissions, a newer schema).
    public init(configuration: PostgresStoreConfiguration) async throws(StoreError) {
        let logger = Logger(label: "billing-checkout.postgres")
        timeout = .seconds(configuration.timeoutSeconds)
        let connectionConfiguration: PostgresConnection.Configuration
        do {
            connectionConfiguration = try configuration.connectionConfiguration()
        } catch {
            throw .cannotOpen("\(configuration): \(error)")
        }
        connections = Connections(configuration: connectionConfiguration, limit: configuration.poolSize, logger: logger)
        do {
            try await Self.within(timeout) { [connections, logger] in
                try await Self.leasing(connections) { try await PostgresMigrations.run($0, logger: logger) }
            }
        } catch {
            let reason = "\(configuration): \(Self.describe(error))"
            throw Self.isUnreachable(error) ? .unavailable(reason) : .cannotOpen(reason)
        }
    }

    public func customer(forUser userID: String) async throws(StoreError) -> String? {
        try await run { connection in
            try await connection.sql("SELECT customer_id FROM customers WHERE user_id = \(userID)")
                .decode(String.self).first { _ in true }
        }
    }

    public func user(forCustomer customerID: String) async throws(StoreError) -> String? {
        try await run { connection in
            try await connection.sql("SELECT user_id FROM customers WHERE customer_id = \(customerID)")
                .decode(String.self).first { _ in true }
        }
    }

    public func subscriptions(forUser userID: String) async throws(StoreError) -> [SubscriptionRecord] {
        try await run { connection in
            try await Self.subscriptions(
                connection.sql(
                    """
                    SELECT \(unescaped: Self.subscriptionColumns) FROM subscriptions WHERE user_id = \(userID)
                    ORDER BY created DESC NULLS LAST, fetched_at DESC, id DESC
                    """))
        }
    }

    public func checkoutState(forUser userID: String) async throws(StoreError) -> CheckoutState {
        try await run { connection in
            // One round trip: a row per subscription (one row when there is none), the user's customer and open
            // slot on each (both keyed by the user, so at most one of each).
            let rows = try await connection.sql(
                """
                SELECT customers.customer_id, slot.session_id, slot.url, slot.price_id, slot.success_url,
                    slot.cancel_url, slot.expires_at, \(unescaped: Self.subscriptionColumns(of: "subscription"))
                FROM (SELECT \(userID)::text AS user_id) AS asked
                LEFT JOIN customers ON customers.user_id = asked.user_id
                LEFT JOIN checkout_slots AS slot ON slot.user_id = asked.user_id AND slot.state = 'open'
                LEFT JOIN subscriptions AS subscription ON subscription.user_id = asked.user_id
                ORDER BY subscription.created DESC NULLS LAST, subscription.fetched_at DESC, subscription.id DESC
                """)
            var state = CheckoutState(customerID: nil, subscriptions: [], openSession: nil)
            for try await row in rows {
                let (
                    customer, sessionID, url, price, success, cancel, expires,
                    id, user, subscriptionCustomer, status, subscriptionPrice, periodEnd, cancelAtEnd, created, fetchedAt
                ) = try row.decode(
                    (
                        String?, String?, String?, String?, String?, String?, Int64?,
                        String?, String?, String?, String?, String?, Int64?, Bool?, Int64?, Double?
                    ).self)
                state.customerID = customer
                if let sessionID, let url, let price, let success, let cancel, let expires {
                    state.openSession = OpenSession(
                        sessionID: sessionID, url: url,
                        request: SessionRequest(priceID: price, successURL: success, cancelURL: cancel),
                        expiresAt: expires)
                }
                if let id, let user, let status, let cancelAtEnd, let fetchedAt {
                    state.subscriptions.append(
                        SubscriptionRecord(
                            id: id, userID: user, customerID: subscriptionCustomer, status: status,
                            priceID: subscriptionPrice, currentPeriodEnd: periodEnd, cancelAtPeriodEnd: cancelAtEnd,
                            created: created, fetchedAt: fetchedAt))
                }
            }
            return state
        }
    }

    public func beginCheckout(userID: String, request: SessionRequest, now: Double, leaseUntil: Double)
        async throws(StoreError) -> CheckoutClaim
    {
        let claim = UUID().uuidString.lowercased()
        return try await run { connection -> CheckoutClaim in
            // One statement, so one round trip and its own transaction. Two requests that both find no slot row
            // both insert; the unique key makes the second one wait for the first and then take the ON CONFLICT
            // branch against the committed row, whose lock it holds while the WHERE decides. A claim over an open
            // slot keeps that session's id, URL, price and URLs in the row until it finishes, so RETURNING yields
            // the session to expire when it is still open (nothing reads a creating row's price or URLs).
            let claimed = try await connection.sql(
                """
                INSERT INTO checkout_slots AS slot (user_id, state, claim, lease_until, session_id, url, price_id,
                    success_url, cancel_url, expires_at)
                VALUES (\(userID), 'creating', \(claim), \(leaseUntil), NULL, NULL, \(request.priceID),
                    \(request.successURL), \(request.cancelURL), NULL)
                ON CONFLICT (user_id) DO UPDATE SET state = 'creating', claim = excluded.claim,
                    lease_until = excluded.lease_until,
                    session_id = CASE slot.state WHEN 'open' THEN slot.session_id END,
                    url = CASE slot.state WHEN 'open' THEN slot.url END,
                    expires_at = CASE slot.state WHEN 'open' THEN slot.expires_at END,
                    price_id = CASE slot.state WHEN 'open' THEN slot.price_id ELSE excluded.price_id END,
                    success_url = CASE slot.state WHEN 'open' THEN slot.success_url ELSE excluded.success_url END,
                    cancel_url = CASE slot.state WHEN 'open' THEN slot.cancel_url ELSE excluded.cancel_url END
                WHERE NOT (slot.state = 'creating' AND slot.lease_until > \(now))
                    AND NOT (slot.state = 'open' AND slot.expires_at > \(now) AND slot.price_id = excluded.price_id
                        AND slot.success_url = excluded.success_url AND slot.cancel_url = excluded.cancel_url)
                RETURNING \(unescaped: Self.slotColumns)
                """)
            if let slot = try await Self.slots(claimed).first {
                return .claimed(claim: claim, replacing: slot.session.flatMap { $0.isOpen(at: now) ? $0 : nil })
            }
            // The slot holds a live claim or this very request's open session (or changed in between): decide
            // from what it holds now; anything else is another request's doing, asked again after a pause.
            let rows = try await connection.sql(
                "SELECT \(unescaped: Self.slotColumns) FROM checkout_slots WHERE user_id = \(userID)")
            if let slot = try await Self.slots(rows).first, slot.state == "open", let session = slot.session,
                session.isOpen(at: now), session.request == request
            {
                return .reuse(session)
            }
            return .busy
        }
    }

    public func finishCheckout(userID: String, claim: String, session: OpenSession) async throws(StoreError) -> Bool {
        try await run { connection in
            let rows = try await connection.sql(
                """
                UPDATE checkout_slots SET state = 'open', claim = NULL, lease_until = NULL,
                    session_id = \(session.sessionID), url = \(session.url), price_id = \(session.request.priceID),
                    success_url = \(session.request.successURL), cancel_url = \(session.request.cancelURL),
                    expires_at = \(session.expiresAt)
                WHERE user_id = \(userID) AND state = 'creating' AND claim = \(claim)
                RETURNING user_id
                """)
            return try await rows.decode(String.self).first { _ in true } != nil
        }
    }

    public func abandonCheckout(userID: String, claim: String) async throws(StoreError) {
        _ = try await run { connection in
            try await connection.sql(
                "DELETE FROM checkout_slots WHERE user_id = \(userID) AND state = 'creating' AND claim = \(claim)")
        }
    }

    public func isProcessed(eventID: String) async throws(StoreError) -> Bool {
        try await run { connection in
            try await connection.sql("SELECT 1::int4 FROM processed_events WHERE id = \(eventID)")
                .decode(Int32.self).first { _ in true } != nil
        }
    }

    public func apply(_ change: StateChange, eventID: String, eventType: String, now: Double)
        async throws(StoreError) -> Bool
    {
        try await transaction { connection in
            // A second delivery of the same event waits here for the first one's transaction, then finds the id.
            let recorded = try await connection.sql(
                """
                INSERT INTO processed_events (id, type, processed_at) VALUES (\(eventID), \(eventType), \(now))
                ON CONFLICT DO NOTHING RETURNING id
                """
            ).decode(String.self).first { _ in true }
            guard recorded != nil else { return false }
            if let link = change.customerLink {
                // A user keeps their first customer; a customer belongs to one user.
                try await connection.sql(
                    """
                    INSERT INTO customers (user_id, customer_id, linked_at) VALUES (\(link.userID), \(link.customerID), \(now))
                    ON CONFLICT DO NOTHING
                    """)
            }
            if let subscription = change.subscription {
                try await Self.upsert(subscription, on: connection)
            }
            if let closed = change.closedSessionID {
                try await connection.sql(
                    "DELETE FROM checkout_slots WHERE session_id = \(closed) AND state = 'open'")
            }
            return true
        }
    }

    public func export() async throws(StoreError) -> StoreSnapshot {
        try await transaction { connection in
            // One snapshot of every table.
            try await connection.sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            var customers: [CustomerLink] = []
            for try await (user, customer) in try await connection.sql(
                "SELECT user_id, customer_id FROM customers ORDER BY user_id"
            ).decode((String, String).self) {
                customers.append(CustomerLink(userID: user, customerID: customer))
            }
            let subscriptions = try await Self.subscriptions(
                connection.sql(
                    "SELECT \(unescaped: Self.subscriptionColumns) FROM subscriptions ORDER BY id"))
            let sessions = try await Self.slots(
                connection.sql(
                    "SELECT \(unescaped: Self.slotColumns) FROM checkout_slots WHERE state = 'open' ORDER BY user_id")
            ).compactMap { slot in slot.session.map { UserSession(userID: slot.userID, session: $0) } }
            var events: [ProcessedEvent] = []
            for try await (id, type, processedAt) in try await connection.sql(
                "SELECT id, type, processed_at FROM processed_events ORDER BY id"
            ).decode((String, String, Double).self) {
                events.append(ProcessedEvent(id: id, type: type, processedAt: processedAt))
            }
            return StoreSnapshot(
                customers: customers, subscriptions: subscriptions, openSessions: sessions, processedEvents: events)
        }
    }

    public func importSnapshot(_ snapshot: StoreSnapshot) async throws(StoreError) {
        // A copy is one transaction of one statement per row: it may take minutes, where a request's operation
        // takes milliseconds. Each statement still has the server's statement_timeout.
        let refused = try await transaction(limit: .seconds(3600)) { connection -> Bool in
            // Other writers wait until the copy is complete: nobody sees half of it.
            try await connection.sql(
                "LOCK TABLE customers, subscriptions, checkout_slots, processed_events IN EXCLUSIVE MODE")
            for table in ["customers", "subscriptions", "checkout_slots", "processed_events"] {
                let any = try await connection.sql("SELECT 1::int4 FROM \(unescaped: table) LIMIT 1")
                    .decode(Int32.self).first { _ in true }
                if any != nil { return true }
            }
            for link in snapshot.customers {
                try await connection.sql(
                    "INSERT INTO customers (user_id, customer_id, linked_at) VALUES (\(link.userID), \(link.customerID), 0)")
            }
            for subscription in snapshot.subscriptions {
                try await Self.upsert(subscription, on: connection)
            }
            for entry in snapshot.openSessions {
                let session = entry.session
                try await connection.sql(
                    """
                    INSERT INTO checkout_slots (user_id, state, session_id, url, price_id, success_url, cancel_url,
                        expires_at)
                    VALUES (\(entry.userID), 'open', \(session.sessionID), \(session.url), \(session.request.priceID),
                        \(session.request.successURL), \(session.request.cancelURL), \(session.expiresAt))
                    """)
            }
            for event in snapshot.processedEvents {
                try await connection.sql(
                    "INSERT INTO processed_events (id, type, processed_at) VALUES (\(event.id), \(event.type), \(event.processedAt))")
            }
            return false
        }
        if refused { throw .refused("the store is not empty") }
    }

    // MARK: - Rows

    private static let subscriptionColumns =
        "id, user_id, customer_id, status, price_id, current_period_end, cancel_at_period_end, created, fetched_at"

    /// `subscriptionColumns`, each qualified by `table`.
    private static func subscriptionColumns(of table: String) -> String {
        subscriptionColumns.split(separator: ", ").map { "\(table).\($0)" }.joined(separator: ", ")
    }

    private static let slotColumns =
        "user_id, state, lease_until, session_id, url, price_id, success_url, cancel_url, expires_at"

    private static func upsert(_ subscription: SubscriptionRecord, on connection: PostgresConnection) async throws {
        // A read from Stripe older than the stored one never replaces it: the conflict's row lock makes two
        // events re-read concurrently apply in turn, and the newer read wins whatever order they commit in.
        try await connection.sql(
            """
            INSERT INTO subscriptions (\(unescaped: subscriptionColumns))
            VALUES (\(subscription.id), \(subscription.userID), \(subscription.customerID), \(subscription.status),
                \(subscription.priceID), \(subscription.currentPeriodEnd), \(subscription.cancelAtPeriodEnd),
                \(subscription.created), \(subscription.fetchedAt))
            ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, customer_id = excluded.customer_id,
                status = excluded.status, price_id = excluded.price_id,
                current_period_end = excluded.current_period_end,
                cancel_at_period_end = excluded.cancel_at_period_end, created = excluded.created,
                fetched_at = excluded.fetched_at
            WHERE excluded.fetched_at >= subscriptions.fetched_at
            """)
    }

    private static func subscriptions(_ rows: PostgresRowSequence) async throws -> [SubscriptionRecord] {
        var records: [SubscriptionRecord] = []
        for try await row in rows {
            let (id, user, customer, status, price, periodEnd, cancelAtEnd, created, fetchedAt) = try row.decode(
                (String, String, String?, String, String?, Int64?, Bool, Int64?, Double).self)
            records.append(
                SubscriptionRecord(
                    id: id, userID: user, customerID: customer, status: status, priceID: price,
                    currentPeriodEnd: periodEnd, cancelAtPeriodEnd: cancelAtEnd, created: created, fetchedAt: fetchedAt))
        }
        return records
    }

    /// A `checkout_slots` row.
    private struct Slot {
        var userID: String
        var state: String
        var leaseUntil: Double?
        var session: OpenSession?
    }

    private static func slots(_ rows: PostgresRowSequence) async throws -> [Slot] {
        var slots: [Slot] = []
        for try await row in rows {
            let (user, state, lease, sessionID, url, price, success, cancel, expires) = try row.decode(
                (String, String, Double?, String?, String?, String, String, String, Int64?).self)
            var session: OpenSession?
            if let sessionID, let url, let expires {
                session = OpenSession(
                    sessionID: sessionID, url: url,
                    request: SessionRequest(priceID: price, successURL: success, cancelURL: cancel), expiresAt: expires)
            }
            slots.append(Slot(userID: user, state: state, leaseUntil: lease, session: session))
        }
        return slots
    }

    // MARK: - Operations

    /// One statement (its own transaction) on a pooled connection, within the timeout.
    private func run<T: Sendable>(
        limit: Duration? = nil, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws(StoreError) -> T {
        let connections = connections
        do {
            return try await Self.within(limit ?? timeout) { try await Self.leasing(connections, body) }
        } catch {
            throw .unavailable(Self.describe(error))
        }
    }

    /// One transaction on a pooled connection, within the timeout: committed when `body` returns, rolled back
    /// when it throws (or by the server, when the connection is lost).
    private func transaction<T: Sendable>(
        limit: Duration? = nil, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws(StoreError) -> T {
        let logger = logger
        return try await run(limit: limit) { connection in
            try await connection.withTransaction(logger: logger) { try await body($0) }
        }
    }

    /// Runs `body` on a connection of the pool and gives it back: kept when it is still usable (the
    /// operation succeeded, or PostgreSQL refused a statement and the transaction was rolled back), closed when
    /// the connection failed or a rollback did not go through.
    static func leasing<T: Sendable>(
        _ connections: Connections, _ body: @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let connection = try await connections.lease()
        // A lease that arrives after the timeout gave up on this operation runs nothing.
        if Task.isCancelled {
            await connections.release(connection, reusable: true)
            throw CancellationError()
        }
        do {
            let result = try await body(connection)
            await connections.release(connection, reusable: true)
            return result
        } catch {
            await connections.release(connection, reusable: isStatementError(error))
            throw error
        }
    }

    /// Whether `error` is PostgreSQL refusing a statement on a connection that is still good to use.
    static func isStatementError(_ error: any Error) -> Bool {
        if let error = error as? PostgresTransactionError {
            guard error.rollbackError == nil, error.commitError == nil else { return false }
            return (error.beginError ?? error.closureError).map(isStatementError) ?? false
        }
        if let error = error as? PSQLError { return error.code == .server }
        return error is NewerSchema
    }

    /// Runs `operation`, or throws `TimedOut` once `limit` has passed. A pool with no connection to give (the
    /// server is down) keeps a request waiting far longer than a browser or Stripe would; past the limit the
    /// request gets its 503 at once. An operation already at the server may still finish later, whole: each is
    /// one transaction.
    static func within<T: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable () async throws -> T)
        async throws -> T
    {
        let outcome = FirstOutcome<T>()
        return try await withCheckedThrowingContinuation { continuation in
            outcome.install(continuation)
            let work = Task {
                do { outcome.settle(.success(try await operation())) } catch { outcome.settle(.failure(error)) }
            }
            let timer = Task {
                try? await Task.sleep(for: limit)
                if outcome.settle(.failure(TimedOut(limit: limit))) { work.cancel() }
            }
            outcome.onSettle { timer.cancel() }
        }
    }

    /// Whether the server could not be reached at all (as opposed to refusing what was asked).
    static func isUnreachable(_ error: any Error) -> Bool {
        if let error = error as? PostgresTransactionError, let cause = cause(of: error) { return isUnreachable(cause) }
        if error is TimedOut { return true }
        if let error = error as? PSQLError {
            switch error.code {
            case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed:
                return true
            case .server:
                // Class 08 (connection exception), 53 (insufficient resources: too many connections, disk full)
                // and 57P (shutting down, starting up): the server is there but cannot serve now.
                let state = error.serverInfo?[.sqlState] ?? ""
                return state.hasPrefix("08") || state.hasPrefix("53") || state.hasPrefix("57P")
            default:
                return false
            }
        }
        return false
    }

    /// One line about `error` that names no password: PostgreSQL's own message and SQLSTATE, or what failed
    /// on the way to the server.
    static func describe(_ error: any Error) -> String {
        if let error = error as? PostgresTransactionError {
            return cause(of: error).map(describe) ?? "the transaction failed"
        }
        if let error = error as? TimedOut { return "no answer within \(error.limit)" }
        if let error = error as? PSQLError {
            if let info = error.serverInfo {
                let state = info[.sqlState].map { " \($0)" } ?? ""
                return "PostgreSQL\(state): \(info[.message] ?? "no message")"
            }
            if let underlying = error.underlying { return "\(error.code): \(underlying)" }
            return "\(error.code)"
        }
        if let error = error as? StoreError { return error.reason }
        return String(describing: error)
    }
}

extension PostgresBillingStore {
    /// The first error of a transaction: of its BEGIN, its statements, its COMMIT.
    static func cause(of error: PostgresTransactionError) -> (any Error)? {
        error.beginError ?? error.closureError ?? error.commitError ?? error.rollbackError
    }
}

/// An operation that did not finish within the store's timeout.
struct TimedOut: Error {
    var limit: Duration
}

/// The first of several outcomes, delivered once to a continuation.
private final class FirstOutcome<T: Sendable>: @unchecked Sendable {
    // @unchecked: every field is read and written under `lock`.
    private let lock = NSLock()
    private var continuation: CheckedContinuation<T, any Error>?
    private var settled = false
    private var cleanup: (@Sendable () -> Void)?

    func install(_ continuation: CheckedContinuation<T, any Error>) {
        lock.withLock { self.continuation = continuation }
    }

    /// Delivers `result` if nothing was delivered before; true when this call delivered.
    @discardableResult
    func settle(_ result: Result<T, any Error>) -> Bool {
        let (continuation, cleanup) = lock.withLock { () -> (CheckedContinuation<T, any Error>?, (@Sendable () -> Void)?) in
            guard !settled else { return (nil, nil) }
            settled = true
            defer { self.continuation = nil }
            return (self.continuation, self.cleanup)
        }
        guard let continuation else { return false }
        cleanup?()
        continuation.resume(with: result)
        return true
    }

    /// Runs `action` once an outcome is delivered (at once if one was).
    func onSettle(_ action: @escaping @Sendable () -> Void) {
        let done = lock.withLock { () -> Bool in
            if settled { return true }
            cleanup = action
            return false
        }
        if done { action() }
    }
}
