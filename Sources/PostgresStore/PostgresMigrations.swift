import BillingStore
import Logging
import PostgresNIO

/// The schema, as versioned steps (the SQLite store's tables in PostgreSQL's types); the table
/// `billing_checkout_schema` says how many have run.
enum PostgresMigrations {
    /// Each step's statements, in order. Never edit a step that has shipped: add one.
    static let steps: [[String]] = [
        [
            """
            CREATE TABLE customers (
                user_id text PRIMARY KEY,
                customer_id text NOT NULL UNIQUE,
                linked_at double precision NOT NULL
            )
            """,
            """
            CREATE TABLE subscriptions (
                id text PRIMARY KEY,
                user_id text NOT NULL,
                customer_id text,
                status text NOT NULL,
                price_id text,
                current_period_end bigint,
                cancel_at_period_end boolean NOT NULL,
                created bigint,
                fetched_at double precision NOT NULL
            )
            """,
            "CREATE INDEX subscriptions_by_user ON subscriptions (user_id)",
            """
            CREATE TABLE checkout_slots (
                user_id text PRIMARY KEY,
                state text NOT NULL CHECK (state IN ('creating', 'open')),
                claim text,
                lease_until double precision,
                session_id text,
                url text,
                price_id text NOT NULL,
                success_url text NOT NULL,
                cancel_url text NOT NULL,
                expires_at bigint
            )
            """,
            "CREATE INDEX checkout_slots_by_session ON checkout_slots (session_id)",
            """
            CREATE TABLE processed_events (
                id text PRIMARY KEY,
                type text NOT NULL,
                processed_at double precision NOT NULL
            )
            """,
        ]
    ]

    /// The advisory-lock key (one bigint) under which migrations run: "billmigr".
    static let migrationLock: Int64 = 0x6269_6c6c_6d69_6772

    /// Runs the steps not yet run, in one transaction under an advisory lock: hosts starting together take
    /// turns, and the later ones find nothing left to do.
    static func run(_ connection: PostgresConnection, logger: Logger) async throws {
        // Every CGI process opens the store: an up-to-date schema is seen with one read, without the lock.
        if try await version(connection) == steps.count { return }
        try await connection.withTransaction(logger: logger) { connection in
            try await connection.sql("SELECT pg_advisory_xact_lock(\(migrationLock))")
            try await connection.sql(
                "CREATE TABLE IF NOT EXISTS billing_checkout_schema (version integer NOT NULL)")
            let current = try await connection.sql("SELECT version FROM billing_checkout_schema")
                .decode(Int32.self).first { _ in true }
            let version = Int(current ?? 0)
            guard version <= steps.count else { throw NewerSchema(version: version, known: steps.count) }
            for step in steps.dropFirst(version) {
                for statement in step { try await connection.sql(PostgresQuery(unsafeSQL: statement)) }
            }
            if current == nil {
                try await connection.sql(
                    "INSERT INTO billing_checkout_schema (version) VALUES (\(Int32(steps.count)))")
            } else if version < steps.count {
                try await connection.sql(
                    "UPDATE billing_checkout_schema SET version = \(Int32(steps.count))")
            }
        }
    }

    /// The schema version, 0 when the database has no schema table yet.
    private static func version(_ connection: PostgresConnection) async throws -> Int {
        do {
            let current = try await connection.sql("SELECT version FROM billing_checkout_schema")
                .decode(Int32.self).first { _ in true }
            let version = Int(current ?? 0)
            guard version <= steps.count else { throw NewerSchema(version: version, known: steps.count) }
            return version
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42P01" {
            return 0  // undefined_table
        }
    }
}

/// The database was migrated by a newer binary.
struct NewerSchema: Error, CustomStringConvertible {
    var version: Int
    var known: Int
    var description: String { "schema version \(version) is newer than this binary's \(known)" }
}
