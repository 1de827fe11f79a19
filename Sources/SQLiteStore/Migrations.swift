import GRDB

/// The schema, as versioned steps; the database's `user_version` says how many have run.
enum Migrations {
    /// Each step's SQL, in order. Never edit a step that has shipped: add one.
    static let steps: [String] = [
        """
        CREATE TABLE customers (
            user_id TEXT PRIMARY KEY NOT NULL,
            customer_id TEXT NOT NULL UNIQUE,
            linked_at REAL NOT NULL
        );
        CREATE TABLE subscriptions (
            id TEXT PRIMARY KEY NOT NULL,
            user_id TEXT NOT NULL,
            customer_id TEXT,
            status TEXT NOT NULL,
            price_id TEXT,
            current_period_end INTEGER,
            cancel_at_period_end INTEGER NOT NULL,
            created INTEGER,
            fetched_at REAL NOT NULL
        );
        CREATE INDEX subscriptions_by_user ON subscriptions (user_id);
        CREATE TABLE checkout_slots (
            user_id TEXT PRIMARY KEY NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('creating', 'open')),
            claim TEXT,
            lease_until REAL,
            session_id TEXT,
            url TEXT,
            price_id TEXT NOT NULL,
            success_url TEXT NOT NULL,
            cancel_url TEXT NOT NULL,
            expires_at INTEGER
        );
        CREATE INDEX checkout_slots_by_session ON checkout_slots (session_id);
        CREATE TABLE processed_events (
            id TEXT PRIMARY KEY NOT NULL,
            type TEXT NOT NULL,
            processed_at REAL NOT NULL
        );
        """
    ]

    /// Runs the steps not yet run, all in one immediate transaction: processes starting together take turns
    /// (the busy timeout), and the second finds nothing left to do.
    static func run(_ writer: any DatabaseWriter) throws {
        // Every CGI process opens the file: an up-to-date schema is seen with a read, without the write lock
        // (which another process may hold for a while).
        let current = try writer.read { db in try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0 }
        if current == steps.count { return }
        try writer.writeWithoutTransaction { db in
            try db.inTransaction(.immediate) {
                let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
                guard version <= steps.count else {
                    throw DatabaseError(
                        message: "schema version \(version) is newer than this binary's \(steps.count)")
                }
                for (index, step) in steps.enumerated() where index >= version {
                    try db.execute(sql: step)
                }
                if version < steps.count { try db.execute(sql: "PRAGMA user_version = \(steps.count)") }
                return .commit
            }
        }
    }
}
