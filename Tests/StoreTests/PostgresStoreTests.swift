import BillingStore
import Foundation
import PostgresStore
import Testing

/// What only the PostgreSQL engine has: a server that can refuse, be unreachable or hold a lock, and hosts that
/// start together.
@Suite struct PostgresStoreTests {
    @Test("hosts starting together on an empty database: every one opens it, the schema is created once")
    func migrationsOnceUnderTheLock() async throws {
        let url = try await Postgres.createDatabase()
        let opened = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    let store = try await TestDatabase.postgres(url).open(poolSize: 1)
                    return try await store.customer(forUser: "nobody") == nil
                }
            }
            return try await group.reduce(into: 0) { count, ok in count += ok ? 1 : 0 }
        }
        #expect(opened == 8)
        #expect(try await Postgres.psql(url, "SELECT count(*) FROM billing_checkout_schema") == "1")
        #expect(try await Postgres.psql(url, "SELECT version FROM billing_checkout_schema") == "1")
    }

    @Test("a server that answers but refuses (password, database, newer schema) cannot open; the password is never told")
    func refusals() async throws {
        var wrongPassword = try Postgres.serverURL()
        wrongPassword.password = "not-the-password-7f3a"
        await #expect {
            _ = try await TestDatabase.postgres(wrongPassword).open()
        } throws: { error in
            guard case StoreError.cannotOpen(let reason) = error else { return false }
            return reason.contains("28P01") && !reason.contains("not-the-password-7f3a")
        }
        var missing = try Postgres.serverURL()
        missing.path = "/no_such_database_here"
        await #expect {
            _ = try await TestDatabase.postgres(missing).open()
        } throws: { error in
            guard case StoreError.cannotOpen(let reason) = error else { return false }
            return reason.contains("3D000")
        }
        let newer = try await Postgres.createDatabase()
        _ = try await TestDatabase.postgres(newer).open()
        try await Postgres.psql(newer, "UPDATE billing_checkout_schema SET version = 99")
        await #expect {
            _ = try await TestDatabase.postgres(newer).open()
        } throws: { error in
            guard case StoreError.cannotOpen(let reason) = error else { return false }
            return reason.contains("schema version 99 is newer")
        }
    }

    @Test("no server on the port: unavailable (not a settings problem), at once")
    func unreachable() async throws {
        var url = try Postgres.serverURL()
        url.port = try Self.closedPort()
        // Refused at once, not waited out: the reason is the refusal, not the timeout.
        await #expect {
            _ = try await TestDatabase.postgres(url).open(timeoutSeconds: 30)
        } throws: { error in
            guard case StoreError.unavailable(let reason) = error else { return false }
            return !reason.contains("no answer within")
        }
    }

    @Test("a table locked by another client past the timeout: unavailable, and nothing is written")
    func lockedByAnotherClient() async throws {
        let url = try await Postgres.createDatabase()
        _ = try await TestDatabase.postgres(url).open()  // migrated, without a short timeout
        let store = try await TestDatabase.postgres(url).open(timeoutSeconds: 2)
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        holder.arguments = [url.string ?? "", "-X", "-q"]
        let input = Pipe()
        holder.standardInput = input
        holder.standardOutput = FileHandle.nullDevice
        try holder.run()
        defer { if holder.isRunning { holder.terminate() } }
        input.fileHandleForWriting.write(
            Data("BEGIN;\nLOCK TABLE processed_events IN ACCESS EXCLUSIVE MODE;\nSELECT pg_sleep(120);\n".utf8))
        // The lock is held once psql's backend shows it.
        for _ in 0..<100 {
            let held = try await Postgres.psql(
                url,
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'processed_events' AND l.mode = 'AccessExclusiveLock' AND l.granted"
            )
            if held == "1" { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let started = ContinuousClock.now
        await #expect(throws: StoreError.self) {
            _ = try await store.apply(StateChange(customerLink: ("u", "cus_1")), eventID: "e1", eventType: "t", now: 1)
        }
        #expect(ContinuousClock.now - started < .seconds(30), "the timeout, not a wait for the lock")
        // The server cancels the waiting statement itself (lock_timeout): once no backend waits on a lock, the
        // holder lets go, and nothing of the refused write may be there.
        for _ in 0..<100 {
            let waiting = try await Postgres.psql(
                url, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")
            if waiting == "0" { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        // The holder's backend ends (its transaction rolls back, the lock goes); psql then reads the end of its
        // input and exits.
        try await Postgres.psql(
            url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'psql' AND datname = current_database() AND pid <> pg_backend_pid()"
        )
        try input.fileHandleForWriting.close()
        while holder.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        #expect(try await Postgres.psql(url, "SELECT count(*) FROM customers") == "0")
        #expect(try await store.isProcessed(eventID: "e1") == false)
        #expect(try await store.apply(StateChange(customerLink: ("u", "cus_1")), eventID: "e1", eventType: "t", now: 2))
        #expect(try await store.customer(forUser: "u") == "cus_1")
    }

    @Test("sslmode: prefer falls back to plain TCP on a server without TLS; require refuses it")
    func sslModes() async throws {
        let url = try await Postgres.createDatabase()
        var prefer = Postgres.configuration(url)
        prefer.tls = .prefer
        let store = try await PostgresBillingStore(configuration: prefer)
        #expect(try await store.customer(forUser: "nobody") == nil)
        var require = Postgres.configuration(url)
        require.tls = .require
        await #expect {
            _ = try await PostgresBillingStore(configuration: require)
        } throws: { error in
            guard case StoreError.cannotOpen(let reason) = error else { return false }
            return reason.contains("sslmode=require")
        }
    }

    @Test("a prepared statement whose table another host changed: that request is unavailable, the next one is answered")
    func preparedStatementOfAChangedTable() async throws {
        let url = try await Postgres.createDatabase()
        let store = try await TestDatabase.postgres(url).open(poolSize: 1)
        #expect(try await store.apply(StateChange(customerLink: ("u", "cus_1")), eventID: "e1", eventType: "t", now: 1))
        #expect(try await store.customer(forUser: "u") == "cus_1")  // prepared on the pool's one connection
        // A result column's type changes under the prepared statement: PostgreSQL refuses the cached plan (0A000)
        // on that connection, every time it is run there.
        try await Postgres.psql(url, "ALTER TABLE customers ALTER COLUMN customer_id TYPE varchar(200)")
        await #expect {
            _ = try await store.customer(forUser: "u")
        } throws: { error in
            guard case StoreError.unavailable(let reason) = error else { return false }
            return reason.contains("0A000")
        }
        #expect(try await store.customer(forUser: "u") == "cus_1")
    }

    /// A port nothing listens on: bound, then closed (nothing else on loopback takes it in this instant).
    static func closedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw Postgres.NotConfigured() }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
