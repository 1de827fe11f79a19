import Billing
import BillingStore
import Foundation
import Logging
import PostgresStore
import SQLiteStore

/// Opens the store `DATABASE_URL` names (nil: stateless); a FastCGI process's PostgreSQL pool is sized from its
/// workers unless `DATABASE_POOL_SIZE` says otherwise, a CGI process holds one connection. A CGI process that
/// cannot reach PostgreSQL answers this request as the state's routes do mid-request (503); the next process
/// tries again.
func openStore(_ loop: LoopSettings, workers: Int, isCGI: Bool, logger: Logger) async throws(StoreError)
    -> (any BillingStore)?
{
    do {
        return try await openEngine(loop, workers: isCGI ? 1 : workers)
    } catch {
        guard isCGI, case .unavailable(let reason) = error else { throw error }
        logger.error("billing state unavailable", metadata: ["reason": "\(reason)"])
        return UnavailableStore(reason: reason)
    }
}

private func openEngine(_ loop: LoopSettings, workers: Int) async throws(StoreError) -> (any BillingStore)? {
    switch loop.database {
    case .none:
        return nil
    case .sqlite(let path):
        return try SQLiteBillingStore(path: path, busyTimeoutSeconds: Double(loop.databaseTimeoutSeconds))
    case .postgres(let location):
        let tls = PostgresStoreConfiguration.TLSMode(rawValue: location.sslMode.rawValue) ?? .prefer
        return try await PostgresBillingStore(
            configuration: PostgresStoreConfiguration(
                host: location.host, port: location.port, username: location.user, password: location.password?.value,
                database: location.database, tls: tls, rootCertificatePath: location.rootCertificatePath,
                poolSize: workers == 1 ? 1 : loop.databasePoolSize ?? LoopSettings.defaultPoolSize(workers: workers),
                timeoutSeconds: loop.databaseTimeoutSeconds))
    }
}

/// `--copy-state-from`: every customer, subscription, open session and processed event of a SQLite file, in one
/// transaction, into the configured store, which must be empty; then exits.
func copyState(from source: String, into target: any BillingStore) async -> Never {
    var path = String(source.dropFirst("sqlite:".count))
    if path.hasPrefix("//") { path.removeFirst(2) }
    guard FileManager.default.fileExists(atPath: path) else { fail("--copy-state-from: no file at \(path)", code: 66) }
    do {
        let snapshot = try await SQLiteBillingStore(path: path).export()
        try await target.importSnapshot(snapshot)
        print(
            "copied \(snapshot.customers.count) customers, \(snapshot.subscriptions.count) subscriptions, "
                + "\(snapshot.openSessions.count) open sessions, \(snapshot.processedEvents.count) processed events")
        exit(0)
    } catch {
        fail("--copy-state-from: \(error.reason)", code: 1)
    }
}
