import Logging
import PostgresNIO

/// The connections of one process to the server: at most `limit` open at once, idle ones kept for the next
/// operation. A connection that fails to open fails its operation at once (the server is down: the request
/// gets its 503 now, and the next one tries again, so answers are right as soon as the server is back).
actor Connections {
    private let configuration: PostgresConnection.Configuration
    private let limit: Int
    private let logger: Logger
    private var idle: [PostgresConnection] = []
    private var open = 0
    private var waiters: [(id: Int, wake: CheckedContinuation<Void, Never>)] = []
    private var nextWaiter = 0
    private var nextConnection = 0

    init(configuration: PostgresConnection.Configuration, limit: Int, logger: Logger) {
        self.configuration = configuration
        self.limit = max(1, limit)
        self.logger = logger
    }

    /// An open connection for the caller alone, until it gives it back with `release`.
    func lease() async throws -> PostgresConnection {
        while true {
            try Task.checkCancellation()
            while let connection = idle.popLast() {
                if !connection.isClosed { return connection }
                open -= 1
            }
            if open < limit {
                open += 1
                nextConnection += 1
                do {
                    return try await PostgresConnection.connect(
                        configuration: configuration, id: nextConnection, logger: logger)
                } catch {
                    open -= 1
                    wakeOne()
                    throw error
                }
            }
            await waitForRelease()
        }
    }

    /// Takes a connection back: kept for the next lease when `reusable` and still open, closed otherwise.
    func release(_ connection: PostgresConnection, reusable: Bool) {
        if reusable && !connection.isClosed {
            idle.append(connection)
        } else {
            open -= 1
            Self.close(connection)
        }
        wakeOne()
    }

    deinit {
        for connection in idle { Self.close(connection) }
    }

    /// Closes `connection`, holding it until the close is done (a connection must not go before it is closed).
    private static func close(_ connection: PostgresConnection) {
        guard !connection.isClosed else { return }
        let closing: EventLoopFuture<Void> = connection.close()
        closing.whenComplete { _ in withExtendedLifetime(connection) {} }
    }

    private func wakeOne() {
        if !waiters.isEmpty { waiters.removeFirst().wake.resume() }
    }

    /// Waits until a connection is released or one fails to open; returns at once when the task is cancelled
    /// (the operation's timeout), which `lease` then throws.
    private func waitForRelease() async {
        let id = nextWaiter
        nextWaiter += 1
        await withTaskCancellationHandler {
            await withCheckedContinuation { (wake: CheckedContinuation<Void, Never>) in
                if Task.isCancelled { wake.resume() } else { waiters.append((id, wake)) }
            }
        } onCancel: {
            Task { await self.cancelWaiter(id) }
        }
    }

    private func cancelWaiter(_ id: Int) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        waiters.remove(at: index).wake.resume()
    }
}

extension PostgresConnection {
    /// Runs one statement; what went wrong is reported by the store, not logged here.
    @discardableResult
    func sql(_ query: PostgresQuery) async throws -> PostgresRowSequence {
        try await self.query(query, logger: PostgresConnection.quiet)
    }

    static let quiet = Logger(label: "billing-checkout.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
}
