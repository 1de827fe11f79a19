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

    /// Writes `1...count` while the writer's queue is held, so that they all wait for it and form one group; gives
    /// each write's value, or nil for a write that failed.
    static func heldGroup(
        _ writes: GroupCommit, _ pool: DatabasePool, count: Int, durable: @escaping @Sendable (Int) -> Bool,
        _ body: @escaping @Sendable (Int, Database) throws -> Int
    ) async -> [Int: Int?] {
        let release = DispatchSemaphore(value: 0)
        pool.asyncWriteWithoutTransaction { _ in release.wait() }
        return await withTaskGroup(of: (Int, Int?).self) { group in
            for id in 1...count {
                group.addTask { (id, try? await writes.write(durable: durable(id)) { db in try body(id, db) }) }
            }
            try? await Task.sleep(for: .milliseconds(300))
            release.signal()
            return await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
    }

    @Test("writes that arrive while the writer is busy share one commit, in the order they came, each seeing the ones before")
    func writesShareACommit() async throws {
        let pool = try Self.pool()
        let counter = CommitCounter()
        pool.add(transactionObserver: counter, extent: .databaseLifetime)
        let seen = await Self.heldGroup(GroupCommit(pool: pool), pool, count: 20, durable: { $0 == 20 }) { id, db in
            try db.execute(sql: "INSERT INTO t (id) VALUES (?)", arguments: [id])
            return try Int.fetchOne(db, sql: "SELECT count(*) FROM t")!
        }
        #expect(Set(seen.values.compactMap { $0 }) == Set(1...20))  // each saw the ones committed with it before it
        #expect(counter.commits.withLock { $0 } == 1)
        #expect(try await pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM t") } == 20)
        #expect(try await pool.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") } == 2)
    }

    @Test("a write that throws is rolled back alone and gets its error; the others of its group commit")
    func failingWriteAlone() async throws {
        let pool = try Self.pool()
        let outcomes = await Self.heldGroup(GroupCommit(pool: pool), pool, count: 5, durable: { _ in false }) { id, db in
            try db.execute(sql: "INSERT INTO t (id, note) VALUES (?, 'written')", arguments: [id])
            if id == 3 { try db.execute(sql: "INSERT INTO missing VALUES (1)") }
            return id
        }
        #expect(outcomes == [1: 1, 2: 2, 3: nil, 4: 4, 5: 5])
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
        let outcomes = await Self.heldGroup(writes, pool, count: 4, durable: { _ in true }) { id, db in
            try db.execute(sql: "INSERT INTO t (id) VALUES (?)", arguments: [id])
            if id == 2 { try db.execute(sql: "INSERT INTO child VALUES (99)") }
            return id
        }
        #expect(outcomes == [1: nil, 2: nil, 3: nil, 4: nil])
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
