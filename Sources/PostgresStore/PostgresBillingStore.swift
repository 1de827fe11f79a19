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
        try await run { connection in try await connection.rows(CustomerOfUser(userID: userID)).first }
    }

    public func user(forCustomer customerID: String) async throws(StoreError) -> String? {
        try await run { connection in try await connection.rows(UserOfCustomer(customerID: customerID)).first }
    }

    public func subscriptions(forUser userID: String) async throws(StoreError) -> [SubscriptionRecord] {
        try await run { connection in try await connection.rows(SubscriptionsOfUser(userID: userID)) }
    }

    public func checkoutState(forUser userID: String) async throws(StoreError) -> CheckoutState {
        try await run { connection in
            var state = CheckoutState(customerID: nil, subscriptions: [], openSession: nil)
            for row in try await connection.rows(CheckoutStateOfUser(userID: userID)) { state.add(row) }
            return state
        }
    }

    public func checkoutState(
        forUser userID: String, claimingIfNew request: SessionRequest, now: Double, leaseUntil: Double,
        endedStatuses: Set<String>
    ) async throws(StoreError) -> (state: CheckoutState, claim: String?) {
        let claim = UUID().uuidString.lowercased()
        return try await run { connection in
            var state = CheckoutState(customerID: nil, subscriptions: [], openSession: nil)
            var claimed: String?
            let statement = CheckoutStateClaimingIfNew(
                userID: userID, claim: claim, leaseUntil: leaseUntil, request: request, endedStatuses: endedStatuses)
            for (rowClaim, row) in try await connection.rows(statement) {
                claimed = rowClaim
                state.add(row)
            }
            return (state, claimed)
        }
    }

    public func beginCheckout(userID: String, request: SessionRequest, now: Double, leaseUntil: Double)
        async throws(StoreError) -> CheckoutClaim
    {
        let claim = UUID().uuidString.lowercased()
        return try await run { connection -> CheckoutClaim in
            let claimed = ClaimSlot(userID: userID, claim: claim, leaseUntil: leaseUntil, request: request, now: now)
            if let slot = try await connection.rows(claimed).first {
                return .claimed(claim: claim, replacing: slot.session.flatMap { $0.isOpen(at: now) ? $0 : nil })
            }
            // The slot holds a live claim or this very request's open session (or changed in between): decide
            // from what it holds now; anything else is another request's doing, asked again after a pause.
            if let slot = try await connection.rows(SlotOfUser(userID: userID)).first, slot.state == "open",
                let session = slot.session, session.isOpen(at: now), session.request == request
            {
                return .reuse(session)
            }
            return .busy
        }
    }

    public func finishCheckout(userID: String, claim: String, session: OpenSession) async throws(StoreError) -> Bool {
        try await run { connection in
            try await !connection.rows(FinishSlot(userID: userID, claim: claim, session: session)).isEmpty
        }
    }

    public func abandonCheckout(userID: String, claim: String) async throws(StoreError) {
        try await run { connection in try await connection.run(AbandonSlot(userID: userID, claim: claim)) }
    }

    public func isProcessed(eventID: String) async throws(StoreError) -> Bool {
        try await run { connection in try await !connection.rows(EventIsProcessed(eventID: eventID)).isEmpty }
    }

    public func apply(_ change: StateChange, eventID: String, eventType: String, now: Double)
        async throws(StoreError) -> Bool
    {
        try await transaction { connection in
            let recorded = try await connection.rows(RecordEvent(eventID: eventID, eventType: eventType, now: now))
            guard !recorded.isEmpty else { return false }
            if let link = change.customerLink {
                try await connection.run(LinkCustomer(userID: link.userID, customerID: link.customerID, at: now))
            }
            if let subscription = change.subscription { try await connection.run(UpsertSubscription(subscription)) }
            if let closed = change.closedSessionID { try await connection.run(CloseSession(sessionID: closed)) }
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
            var subscriptions: [SubscriptionRecord] = []
            for try await row in try await connection.sql(
                "SELECT \(unescaped: subscriptionColumns) FROM subscriptions ORDER BY id")
            {
                subscriptions.append(try SubscriptionRecord(row))
            }
            var sessions: [UserSession] = []
            for try await row in try await connection.sql(
                "SELECT \(unescaped: slotColumns) FROM checkout_slots WHERE state = 'open' ORDER BY user_id")
            {
                let slot = try Slot(row)
                if let session = slot.session { sessions.append(UserSession(userID: slot.userID, session: session)) }
            }
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
                try await connection.run(UpsertSubscription(subscription))
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

    /// Runs `body` on a connection of the pool and gives it back: kept when the operation succeeded, closed when
    /// it failed (`keepsConnection(after:)`).
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
            await connections.release(connection, reusable: keepsConnection(after: error))
            throw error
        }
    }

    /// Whether a connection is still good to use after `error`. A refusal by the server is not enough:
    /// postgres-nio keeps a prepared statement's failed preparation (a lock or statement timeout while the
    /// server parsed it, a plan that no longer fits a changed table) for the connection's life, and fails every
    /// later run of that statement there with it; an error does not tell which step failed. So after any error
    /// from the server the connection is closed, and the next one prepares afresh. On a healthy server errors
    /// are rare, and a new connection costs a few milliseconds.
    static func keepsConnection(after error: any Error) -> Bool {
        if let error = error as? PostgresTransactionError {
            guard error.rollbackError == nil, error.commitError == nil else { return false }
            return (error.beginError ?? error.closureError).map(keepsConnection) ?? false
        }
        return error is NewerSchema
    }

    /// Runs `operation`, or throws `TimedOut` once `limit` has passed. A pool with no connection to give (the
    /// server is down) keeps a request waiting far longer than a browser or Stripe would; past the limit the
    /// request gets its 503 at once. An operation already at the server may still finish later, whole: each is
    /// one transaction.
    static func within<T: Sendable>(
        _ limit: Duration, deadlines: Deadlines = .shared, _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let outcome = FirstOutcome<T>()
        return try await withCheckedThrowingContinuation { continuation in
            outcome.install(continuation)
            let work = Task {
                do { outcome.settle(.success(try await operation())) } catch { outcome.settle(.failure(error)) }
            }
            let deadline = deadlines.add(after: limit) {
                if outcome.settle(.failure(TimedOut(limit: limit))) { work.cancel() }
            }
            outcome.onSettle { deadlines.remove(deadline) }
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

extension CheckoutState {
    /// Adds one row of a state read (`CheckoutStateOfUser`): every row names the customer and the open slot.
    fileprivate mutating func add(_ row: CheckoutStateOfUser.Row) {
        customerID = row.customerID
        openSession = row.openSession
        if let subscription = row.subscription { subscriptions.append(subscription) }
    }
}
