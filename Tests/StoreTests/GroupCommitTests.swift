import Foundation
import GRDB
@testable import SQLiteStore
import Synchronization
import Testing

/// The writes of one process committed together (`GroupCommit`): each answered after its commit, each in its own
/// savepoint, the group synced when one of its writes is durable.
@Suite struct GroupCommitTests {
    static func pool() throws -> DatabasePool {
        var configuration = Configuration()
        configuration.journalMode = .wal
        let pool = try DatabasePool(path: BillingStoreTests.path(), configuration: configuration)
        try pool.write { try $0.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT)") }
        return pool
    }

    /// Writes that arrive while the writer is held wait for it and are committed in one transaction.
    @Test("writes that arrive while the writer is busy share one commit, in the order they came, each seeing the ones before")
    func writesShareACommit() async throws {
        let pool = try Self.pool()
        let writes = GroupCommit(pool: pool)
        let counter = CommitCounter()
        pool.add(transactionObserver: counter, extent: .databaseLifetime)
        // Hold the writer's queue until all the writes are waiting.
        let release = DispatchSemaphore(value: 0)
        pool.asyncWriteWithoutTransaction { _ in release.wait() }
        let seen = try await withThrowingTaskGroup(of: Int.self) { group in
            for id in 1...20 {
                group.addTask {
                    try await writes.write(durable: id == 20) { db in
                        try db.execute(sql: "INSERT INTO t (id) VALUES (?)", arguments: [id])
                        return try Int.fetchOne(db, sql: "SELECT count(*) FROM t")!
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(300))
            release.signal()
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(seen) == Set(1...20))  // each write saw the ones committed with it before it
        #expect(counter.commits.withLock { $0 } == 1)
        #expect(try await pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM t") } == 20)
        #expect(try await pool.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") } == 2)
    }

    @Test("a write that throws is rolled back alone and gets its error; the others of its group commit")
    func failingWriteAlone() async throws {
        let pool = try Self.pool()
        let writes = GroupCommit(pool: pool)
        let release = DispatchSemaphore(value: 0)
        pool.asyncWriteWithoutTransaction { _ in release.wait() }
        let outcomes = await withTaskGroup(of: (Int, Bool).self) { group in
            for id in 1...5 {
                group.addTask {
                    do {
                        try await writes.write(durable: false) { db in
                            try db.execute(sql: "INSERT INTO t (id, note) VALUES (?, 'written')", arguments: [id])
                            if id == 3 { try db.execute(sql: "INSERT INTO missing VALUES (1)") }
                        }
                        return (id, true)
                    } catch {
                        return (id, false)
                    }
                }
            }
            try? await Task.sleep(for: .milliseconds(300))
            release.signal()
            return await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        #expect(outcomes == [1: true, 2: true, 3: false, 4: true, 5: true])
        #expect(try await pool.read { try Int.fetchAll($0, sql: "SELECT id FROM t ORDER BY id") } == [1, 2, 4, 5])
        #expect(try await pool.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") } == 1)
    }

    @Test("when the group's commit fails, every write of it gets the error and none is in the file")
    func failedCommitFailsAll() async throws {
        let pool = try Self.pool()
        let writes = GroupCommit(pool: pool)
        // A deferred foreign key that is broken fails the COMMIT itself.
        try await pool.write { db in
            try db.execute(sql: "CREATE TABLE parent (id INTEGER PRIMARY KEY)")
            try db.execute(
                sql: "CREATE TABLE child (id INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)")
        }
        let release = DispatchSemaphore(value: 0)
        pool.asyncWriteWithoutTransaction { _ in release.wait() }
        let failures = await withTaskGroup(of: Bool.self) { group in
            for id in 1...4 {
                group.addTask {
                    do {
                        try await writes.write(durable: true) { db in
                            try db.execute(sql: "INSERT INTO t (id) VALUES (?)", arguments: [id])
                            if id == 2 { try db.execute(sql: "INSERT INTO child VALUES (99)") }
                        }
                        return false
                    } catch {
                        return true
                    }
                }
            }
            try? await Task.sleep(for: .milliseconds(300))
            release.signal()
            return await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
        }
        #expect(failures == 4)
        #expect(try await pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM t") } == 0)
        #expect(try await pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM child") } == 0)
        // The writer is usable afterwards.
        try await writes.write(durable: true) { db in try db.execute(sql: "INSERT INTO t (id) VALUES (7)") }
        #expect(try await pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM t") } == 1)
    }
}

private final class CommitCounter: TransactionObserver, Sendable {
    let commits = Mutex(0)
    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { true }
    func databaseDidChange(with event: DatabaseEvent) {}
    func databaseDidCommit(_ db: Database) { commits.withLock { $0 += 1 } }
    func databaseDidRollback(_ db: Database) {}
}
