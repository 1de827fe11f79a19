import GRDB
import Synchronization

/// A process's writes, committed in groups: the writes that arrive while the writer is busy wait for it and are
/// then committed together, in one immediate transaction, one lock taken and one sync for all of them.
///
/// Each write of a group runs in its own savepoint, in the order the writes arrived, and sees the writes before
/// it: a write that throws is rolled back alone and gets its error; the others commit. A write is answered only
/// after the commit that holds it; if that commit fails (the lock not had within the busy timeout, a full disk),
/// every write of the group gets the error and none of them is in the file. A group is synced (`synchronous =
/// FULL`) when any of its writes is durable.
final class GroupCommit: Sendable {
    private struct Write: Sendable {
        let durable: Bool
        let run: @Sendable (Database) throws -> Void
        let done: @Sendable ((any Error)?) -> Void
    }

    /// The most writes in one transaction, so that one group cannot hold the lock for long.
    static let maximumGroup = 64

    private let pool: DatabasePool
    private let waiting = Mutex<(writes: [Write], scheduled: Bool)>(([], false))

    init(pool: DatabasePool) {
        self.pool = pool
    }

    func write<T: Sendable>(durable: Bool, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let result = Slot<T>()
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let write = Write(
                durable: durable, run: { db in result.value = try body(db) },
                done: { error in
                    if let error { continuation.resume(throwing: error) } else { continuation.resume() }
                })
            let schedule = waiting.withLock { state -> Bool in
                state.writes.append(write)
                defer { state.scheduled = true }
                return !state.scheduled
            }
            if schedule { pool.asyncWriteWithoutTransaction { db in self.commitNextGroup(db) } }
        }
        return result.value!
    }

    /// On the writer's queue: commits the writes waiting now, then schedules itself again if more came meanwhile
    /// (a new turn on the queue, so that the pool's other writes are not shut out).
    private func commitNextGroup(_ db: Database) {
        let group = waiting.withLock { state -> [Write] in
            let count = min(state.writes.count, Self.maximumGroup)
            let group = Array(state.writes.prefix(count))
            state.writes.removeFirst(count)
            return group
        }
        commit(group, db)
        let again = waiting.withLock { state -> Bool in
            state.scheduled = !state.writes.isEmpty
            return state.scheduled
        }
        if again { pool.asyncWriteWithoutTransaction { db in self.commitNextGroup(db) } }
    }

    private func commit(_ group: [Write], _ db: Database) {
        guard !group.isEmpty else { return }
        var failures = [(any Error)?](repeating: nil, count: group.count)
        do {
            try db.execute(cached: group.contains(where: \.durable) ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL")
            try db.execute(cached: "BEGIN IMMEDIATE TRANSACTION")
            do {
                if group.count == 1 {
                    try group[0].run(db)
                } else {
                    for (index, write) in group.enumerated() {
                        try db.execute(cached: "SAVEPOINT write")
                        do {
                            try write.run(db)
                        } catch {
                            failures[index] = error
                            try db.execute(cached: "ROLLBACK TRANSACTION TO SAVEPOINT write")
                        }
                        try db.execute(cached: "RELEASE SAVEPOINT write")
                    }
                }
                try db.execute(cached: "COMMIT TRANSACTION")
            } catch {
                // SQLite may have rolled the transaction back itself (a full disk, an I/O error).
                if db.isInsideTransaction { try? db.execute(sql: "ROLLBACK TRANSACTION") }
                throw error
            }
        } catch {
            for write in group { write.done(error) }
            return
        }
        for (write, failure) in zip(group, failures) { write.done(failure) }
    }

    /// Where a write's value waits for its commit: set on the writer's queue before the write is answered, read
    /// by the caller after.
    private final class Slot<T>: @unchecked Sendable {
        var value: T?
    }
}

extension Database {
    /// Runs `sql` through the connection's statement cache: a hot statement is compiled once per connection.
    func execute(cached sql: String, arguments: StatementArguments = StatementArguments()) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }
}
