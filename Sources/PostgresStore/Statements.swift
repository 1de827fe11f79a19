import BillingStore
import PostgresNIO

// The statements a request runs, as prepared statements: postgres-nio prepares each on a connection the first
// time it runs there and keeps it under its type's name, so the server parses and plans it once per connection
// instead of once per request (for a checkout's three statements, that was most of the server's work).
// Every parameter's type is written out: a statement prepared on a first run whose value is NULL must not
// leave the server to infer the type that later values are sent as.

/// A request-path statement whose values are bound in `init`.
protocol RequestStatement: PostgresPreparedStatement {
    var bindings: PostgresBindings { get }
}

extension RequestStatement {
    func makeBindings() -> PostgresBindings { bindings }
}

extension RequestStatement where Row == () {
    func decodeRow(_ row: PostgresRow) throws {}
}

extension PostgresBindings {
    /// Bindings of `values`, in order; a nil is bound as NULL.
    fileprivate init(_ values: (any PostgresDynamicTypeEncodable)?...) {
        self.init(capacity: values.count)
        for value in values {
            if let value { append(value) } else { appendNull() }
        }
    }
}

/// The subscription columns every subscription read decodes, in `SubscriptionRecord`'s order.
let subscriptionColumns =
    "id, user_id, customer_id, status, price_id, current_period_end, cancel_at_period_end, created, fetched_at"

/// The `checkout_slots` columns `Slot` decodes.
let slotColumns = "user_id, state, lease_until, session_id, url, price_id, success_url, cancel_url, expires_at"

/// A `checkout_slots` row.
struct Slot: Sendable {
    var userID: String
    var state: String
    var leaseUntil: Double?
    var session: OpenSession?

    init(_ row: PostgresRow) throws {
        let cells = PostgresRandomAccessRow(row)
        userID = try cells[0].decode(String.self)
        state = try cells[1].decode(String.self)
        leaseUntil = try cells[2].decode(Double?.self)
        session = try OpenSession(cells, from: 3)
    }
}

extension OpenSession {
    /// The session of a slot's columns `session_id, url, price_id, success_url, cancel_url, expires_at`, from
    /// cell `first` on; nil when the slot names no session (a claim being created, or no slot row at all).
    init?(_ cells: PostgresRandomAccessRow, from first: Int) throws {
        guard let id = try cells[first].decode(String?.self), let url = try cells[first + 1].decode(String?.self),
            let price = try cells[first + 2].decode(String?.self),
            let success = try cells[first + 3].decode(String?.self),
            let cancel = try cells[first + 4].decode(String?.self),
            let expires = try cells[first + 5].decode(Int64?.self)
        else { return nil }
        self.init(
            sessionID: id, url: url, request: SessionRequest(priceID: price, successURL: success, cancelURL: cancel),
            expiresAt: expires)
    }
}

extension SubscriptionRecord {
    /// A row of `subscriptionColumns`, from cell `first` on.
    init(_ cells: PostgresRandomAccessRow, from first: Int = 0) throws {
        self.init(
            id: try cells[first].decode(String.self), userID: try cells[first + 1].decode(String.self),
            customerID: try cells[first + 2].decode(String?.self), status: try cells[first + 3].decode(String.self),
            priceID: try cells[first + 4].decode(String?.self),
            currentPeriodEnd: try cells[first + 5].decode(Int64?.self),
            cancelAtPeriodEnd: try cells[first + 6].decode(Bool.self), created: try cells[first + 7].decode(Int64?.self),
            fetchedAt: try cells[first + 8].decode(Double.self))
    }

    init(_ row: PostgresRow) throws { try self.init(PostgresRandomAccessRow(row)) }
}

struct CustomerOfUser: RequestStatement {
    static let sql = "SELECT customer_id FROM customers WHERE user_id = $1"
    static let bindingDataTypes: [PostgresDataType] = [.text]
    let bindings: PostgresBindings
    init(userID: String) { bindings = PostgresBindings(userID) }
    func decodeRow(_ row: PostgresRow) throws -> String { try row.decode(String.self) }
}

struct UserOfCustomer: RequestStatement {
    static let sql = "SELECT user_id FROM customers WHERE customer_id = $1"
    static let bindingDataTypes: [PostgresDataType] = [.text]
    let bindings: PostgresBindings
    init(customerID: String) { bindings = PostgresBindings(customerID) }
    func decodeRow(_ row: PostgresRow) throws -> String { try row.decode(String.self) }
}

struct SubscriptionsOfUser: RequestStatement {
    static let sql = """
        SELECT \(subscriptionColumns) FROM subscriptions WHERE user_id = $1
        ORDER BY created DESC NULLS LAST, fetched_at DESC, id DESC
        """
    static let bindingDataTypes: [PostgresDataType] = [.text]
    let bindings: PostgresBindings
    init(userID: String) { bindings = PostgresBindings(userID) }
    func decodeRow(_ row: PostgresRow) throws -> SubscriptionRecord { try SubscriptionRecord(row) }
}

/// What a checkout reads, in one round trip: a row per subscription (one row when there is none), the user's
/// customer and open slot on each (both keyed by the user, so at most one of each).
struct CheckoutStateOfUser: RequestStatement {
    /// The columns a state row has, in the order `part(_:from:)` decodes them.
    static let columns = """
        customers.customer_id, slot.session_id, slot.url, slot.price_id, slot.success_url, slot.cancel_url,
            slot.expires_at, \(subscriptionColumns.split(separator: ", ").map { "subscription.\($0)" }.joined(separator: ", "))
        """
    /// The user ($1), their customer, open slot and subscriptions, newest first.
    static let from = """
        FROM (SELECT $1::text AS user_id) AS asked
        LEFT JOIN customers ON customers.user_id = asked.user_id
        LEFT JOIN checkout_slots AS slot ON slot.user_id = asked.user_id AND slot.state = 'open'
        LEFT JOIN subscriptions AS subscription ON subscription.user_id = asked.user_id
        ORDER BY subscription.created DESC NULLS LAST, subscription.fetched_at DESC, subscription.id DESC
        """
    static let sql = "SELECT \(columns) \(from)"
    static let bindingDataTypes: [PostgresDataType] = [.text]
    let bindings: PostgresBindings
    init(userID: String) { bindings = PostgresBindings(userID) }

    /// One row's part of the state: the customer, the open session, a subscription, each when the row has it.
    struct Row: Sendable {
        var customerID: String?
        var openSession: OpenSession?
        var subscription: SubscriptionRecord?
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try Self.part(PostgresRandomAccessRow(row), from: 0) }

    /// The part of `columns` that starts at cell `first`: every row has the customer and the open slot; a row
    /// without a subscription (the user has none) has NULL in all of its columns.
    static func part(_ row: PostgresRandomAccessRow, from first: Int) throws -> Row {
        Row(
            customerID: try row[first].decode(String?.self), openSession: try OpenSession(row, from: first + 1),
            subscription: try row[first + 7].decode(String?.self) == nil ? nil : SubscriptionRecord(row, from: first + 7))
    }
}

/// `CheckoutStateOfUser`'s read, and a claim for a user with nothing yet, in one round trip: the slot row is
/// inserted only when there is none and no subscription of the user has a status outside the ended ones ($7).
/// The read is of the statement's snapshot, taken before the insert, so it shows the state the claim was
/// decided on. A request that races another for the same new user waits on the first one's insert (the
/// primary key), then claims nothing and takes the usual way (`ClaimSlot`).
struct CheckoutStateClaimingIfNew: RequestStatement {
    static let sql = """
        WITH claimed AS (
            INSERT INTO checkout_slots (user_id, state, claim, lease_until, price_id, success_url, cancel_url)
            SELECT $1, 'creating', $2, $3, $4, $5, $6
            WHERE NOT EXISTS (SELECT 1 FROM subscriptions WHERE user_id = $1 AND status <> ALL ($7))
            ON CONFLICT (user_id) DO NOTHING
            RETURNING claim
        )
        SELECT (SELECT claim FROM claimed), \(CheckoutStateOfUser.columns)
        \(CheckoutStateOfUser.from)
        """
    static let bindingDataTypes: [PostgresDataType] = [.text, .text, .float8, .text, .text, .text, .textArray]
    let bindings: PostgresBindings

    init(userID: String, claim: String, leaseUntil: Double, request: SessionRequest, endedStatuses: Set<String>) {
        bindings = PostgresBindings(
            userID, claim, leaseUntil, request.priceID, request.successURL, request.cancelURL,
            endedStatuses.sorted())
    }

    func decodeRow(_ row: PostgresRow) throws -> (claim: String?, part: CheckoutStateOfUser.Row) {
        let cells = PostgresRandomAccessRow(row)
        return (try cells[0].decode(String?.self), try CheckoutStateOfUser.part(cells, from: 1))
    }
}

/// A claim on the user's slot, in one statement (so one round trip and its own transaction). Two requests that
/// both find no slot row both insert; the unique key makes the second one wait for the first and then take the
/// ON CONFLICT branch against the committed row, whose lock it holds while the WHERE decides. A claim over an
/// open slot keeps that session's id, URL, price and URLs in the row until it finishes, so RETURNING yields the
/// session to expire when it is still open (nothing reads a creating row's price or URLs). No row: the slot
/// holds a live claim or this very request's open session.
struct ClaimSlot: RequestStatement {
    static let sql = """
        INSERT INTO checkout_slots AS slot (user_id, state, claim, lease_until, session_id, url, price_id,
            success_url, cancel_url, expires_at)
        VALUES ($1, 'creating', $2, $3, NULL, NULL, $4, $5, $6, NULL)
        ON CONFLICT (user_id) DO UPDATE SET state = 'creating', claim = excluded.claim,
            lease_until = excluded.lease_until,
            session_id = CASE slot.state WHEN 'open' THEN slot.session_id END,
            url = CASE slot.state WHEN 'open' THEN slot.url END,
            expires_at = CASE slot.state WHEN 'open' THEN slot.expires_at END,
            price_id = CASE slot.state WHEN 'open' THEN slot.price_id ELSE excluded.price_id END,
            success_url = CASE slot.state WHEN 'open' THEN slot.success_url ELSE excluded.success_url END,
            cancel_url = CASE slot.state WHEN 'open' THEN slot.cancel_url ELSE excluded.cancel_url END
        WHERE NOT (slot.state = 'creating' AND slot.lease_until > $7)
            AND NOT (slot.state = 'open' AND slot.expires_at > $7 AND slot.price_id = excluded.price_id
                AND slot.success_url = excluded.success_url AND slot.cancel_url = excluded.cancel_url)
        RETURNING \(slotColumns)
        """
    static let bindingDataTypes: [PostgresDataType] = [.text, .text, .float8, .text, .text, .text, .float8]
    let bindings: PostgresBindings

    init(userID: String, claim: String, leaseUntil: Double, request: SessionRequest, now: Double) {
        bindings = PostgresBindings(
            userID, claim, leaseUntil, request.priceID, request.successURL, request.cancelURL, now)
    }

    func decodeRow(_ row: PostgresRow) throws -> Slot { try Slot(row) }
}

struct SlotOfUser: RequestStatement {
    static let sql = "SELECT \(slotColumns) FROM checkout_slots WHERE user_id = $1"
    static let bindingDataTypes: [PostgresDataType] = [.text]
    let bindings: PostgresBindings
    init(userID: String) { bindings = PostgresBindings(userID) }
    func decodeRow(_ row: PostgresRow) throws -> Slot { try Slot(row) }
}

/// The session created under a claim, recorded as the user's open session; no row when the claim was lost.
struct FinishSlot: RequestStatement {
    static let sql = """
        UPDATE checkout_slots SET state = 'open', claim = NULL, lease_until = NULL, session_id = $1, url = $2,
            price_id = $3, success_url = $4, cancel_url = $5, expires_at = $6
        WHERE user_id = $7 AND state = 'creating' AND claim = $8
        RETURNING user_id
        """
    static let bindingDataTypes: [PostgresDataType] = [.text, .text, .text, .text, .text, .int8, .text, .text]
    let bindings: PostgresBindings

    init(userID: String, claim: String, session: OpenSession) {
        bindings = PostgresBindings(
            session.sessionID, session.url, session.request.priceID, session.request.successURL,
            session.request.cancelURL, session.expiresAt, userID, claim)
    }

    func decodeRow(_ row: PostgresRow) throws -> String { try row.decode(String.self) }
}

struct AbandonSlot: RequestStatement {
    typealias Row = ()
    static let sql = "DELETE FROM checkout_slots WHERE user_id = $1 AND state = 'creating' AND claim = $2"
    static let bindingDataTypes: [PostgresDataType] = [.text, .text]
    let bindings: PostgresBindings
    init(userID: String, claim: String) { bindings = PostgresBindings(userID, claim) }
}

struct EventIsProcessed: RequestStatement {
    static let sql = "SELECT 1::int4 FROM processed_events WHERE id = $1"
    static let bindingDataTypes: [PostgresDataType] = [.text]
    let bindings: PostgresBindings
    init(eventID: String) { bindings = PostgresBindings(eventID) }
    func decodeRow(_ row: PostgresRow) throws -> Int32 { try row.decode(Int32.self) }
}

/// Records an event's id; no row when it was recorded before. A second delivery of the same event waits here
/// for the first one's transaction, then finds the id.
struct RecordEvent: RequestStatement {
    static let sql = """
        INSERT INTO processed_events (id, type, processed_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING id
        """
    static let bindingDataTypes: [PostgresDataType] = [.text, .text, .float8]
    let bindings: PostgresBindings
    init(eventID: String, eventType: String, now: Double) { bindings = PostgresBindings(eventID, eventType, now) }
    func decodeRow(_ row: PostgresRow) throws -> String { try row.decode(String.self) }
}

/// A user keeps their first customer; a customer belongs to one user.
struct LinkCustomer: RequestStatement {
    typealias Row = ()
    static let sql = """
        INSERT INTO customers (user_id, customer_id, linked_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING
        """
    static let bindingDataTypes: [PostgresDataType] = [.text, .text, .float8]
    let bindings: PostgresBindings
    init(userID: String, customerID: String, at now: Double) { bindings = PostgresBindings(userID, customerID, now) }
}

/// A read from Stripe older than the stored one never replaces it: the conflict's row lock makes two events
/// re-read concurrently apply in turn, and the newer read wins whatever order they commit in.
struct UpsertSubscription: RequestStatement {
    typealias Row = ()
    static let sql = """
        INSERT INTO subscriptions (\(subscriptionColumns)) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, customer_id = excluded.customer_id,
            status = excluded.status, price_id = excluded.price_id, current_period_end = excluded.current_period_end,
            cancel_at_period_end = excluded.cancel_at_period_end, created = excluded.created,
            fetched_at = excluded.fetched_at
        WHERE excluded.fetched_at >= subscriptions.fetched_at
        """
    static let bindingDataTypes: [PostgresDataType] = [.text, .text, .text, .text, .text, .int8, .bool, .int8, .float8]
    let bindings: PostgresBindings

    init(_ subscription: SubscriptionRecord) {
        bindings = PostgresBindings(
            subscription.id, subscription.userID, subscription.customerID, subscription.status, subscription.priceID,
            subscription.currentPeriodEnd, subscription.cancelAtPeriodEnd, subscription.created,
            subscription.fetchedAt)
    }
}

/// The completed or expired session's slot is emptied.
struct CloseSession: RequestStatement {
    typealias Row = ()
    static let sql = "DELETE FROM checkout_slots WHERE session_id = $1 AND state = 'open'"
    static let bindingDataTypes: [PostgresDataType] = [.text]
    let bindings: PostgresBindings
    init(sessionID: String) { bindings = PostgresBindings(sessionID) }
}

extension PostgresConnection {
    /// Runs a request statement, its rows decoded; what went wrong is reported by the store, not logged here.
    func rows<Statement: RequestStatement>(_ statement: Statement) async throws -> [Statement.Row] {
        var rows: [Statement.Row] = []
        for try await row in try await execute(statement, logger: PostgresConnection.quiet) { rows.append(row) }
        return rows
    }

    /// Runs a request statement that returns no rows.
    func run<Statement: RequestStatement>(_ statement: Statement) async throws where Statement.Row == () {
        _ = try await execute(statement, logger: PostgresConnection.quiet)
    }
}
