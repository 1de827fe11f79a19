import BillingStore
import Foundation
import PostgresStore
import SQLiteStore
import Testing

/// The engines every store test runs against.
enum Engine: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    /// A new, empty database of this engine.
    func newDatabase() async throws -> TestDatabase {
        switch self {
        case .sqlite: .sqlite(BillingStoreTests.path())
        case .postgres: .postgres(try await Postgres.createDatabase())
        }
    }
}

/// One test's database.
enum TestDatabase: Sendable {
    case sqlite(String)
    case postgres(URLComponents)

    /// A store on it (a new pool each time, as another process would have); runs the migrations. The timeout is
    /// generous: the test process runs hundreds of tests at once on two CPUs, and only the tests of timeouts
    /// themselves set a short one.
    func open(timeoutSeconds: Int = 30, poolSize: Int = 4) async throws(StoreError) -> any BillingStore {
        switch self {
        case .sqlite(let path):
            try SQLiteBillingStore(path: path, busyTimeoutSeconds: Double(timeoutSeconds))
        case .postgres(let url):
            try await PostgresBillingStore(
                configuration: Postgres.configuration(url, poolSize: poolSize, timeoutSeconds: timeoutSeconds))
        }
    }
}

/// The PostgreSQL server the tests use: `BILLING_TEST_POSTGRES_URL`, a superuser's URL (scripts/test starts a
/// private cluster and sets it).
enum Postgres {
    struct NotConfigured: Error, CustomStringConvertible {
        var description: String {
            "BILLING_TEST_POSTGRES_URL is not set: run scripts/test, or python3 -m harness.postgres -- swift test"
        }
    }

    static func serverURL() throws -> URLComponents {
        guard let text = ProcessInfo.processInfo.environment["BILLING_TEST_POSTGRES_URL"],
            let url = URLComponents(string: text)
        else { throw NotConfigured() }
        return url
    }

    /// Creates a database of its own and returns its URL.
    static func createDatabase() async throws -> URLComponents {
        var url = try serverURL()
        let name = "billing_test_\(UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: ""))"
        _ = try await psql(url, "CREATE DATABASE \(name)")
        url.path = "/\(name)"
        return url
    }

    /// The timeout is generous, as in `open`: every suite runs at once on two CPUs, and a connection can wait
    /// seconds for one of them (a 5 s default once timed out the sslmode test in a fresh clone's run).
    static func configuration(_ url: URLComponents, poolSize: Int = 4, timeoutSeconds: Int = 30)
        -> PostgresStoreConfiguration
    {
        PostgresStoreConfiguration(
            host: url.host ?? "127.0.0.1", port: url.port ?? 5432, username: url.user ?? "postgres",
            password: url.password, database: String(url.path.dropFirst()), tls: .disable, rootCertificatePath: nil,
            poolSize: poolSize, timeoutSeconds: timeoutSeconds)
    }

    /// Runs `sql` with psql (unaligned, tuples only) and returns its output, trimmed; on a thread of its own, so
    /// that waiting for psql never holds one of the few threads every test's tasks run on.
    @discardableResult
    static func psql(_ url: URLComponents, _ sql: String) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try psqlBlocking(url, sql) })
            }
        }
    }

    private static func psqlBlocking(_ url: URLComponents, _ sql: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        process.arguments = [url.string ?? "", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let problems = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw PsqlFailed(message: String(decoding: problems, as: UTF8.self))
        }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    struct PsqlFailed: Error {
        var message: String
    }
}
