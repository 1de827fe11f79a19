import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The engines the loop's end-to-end tests run on: the harness's SQLite file, or a new database of its own on
/// the PostgreSQL server `BILLING_TEST_POSTGRES_URL` names (scripts/test starts one).
enum LoopEngine: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    /// `DATABASE_URL` for a test of `harness`.
    func databaseURL(_ harness: CheckoutHarness) throws -> String {
        switch self {
        case .sqlite: "sqlite:\(harness.databasePath)"
        case .postgres: try TestPostgres.createDatabase()
        }
    }
}

/// The test server's databases, made with psql.
enum TestPostgres {
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

    /// A new, empty database; its URL.
    static func createDatabase() throws -> String {
        var url = try serverURL()
        let name = "billing_e2e_\(UUID().uuidString.prefix(13).lowercased().replacingOccurrences(of: "-", with: ""))"
        try psql(url.string ?? "", "CREATE DATABASE \(name)")
        url.path = "/\(name)"
        return url.string ?? ""
    }

    /// A loopback port nothing listens on (bound, then closed).
    static func closedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw SupportError("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Runs `sql` with psql (unaligned, tuples only); its output, trimmed.
    @discardableResult
    static func psql(_ url: String, _ sql: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        process.arguments = [url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw SupportError("psql failed: \(sql)") }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Which database a test instance's loop settings point at (set by the test's first line).
final class LoopDatabase: @unchecked Sendable {
    // @unchecked: written once, at the start of the test, before anything reads it.
    var url: String?
}
