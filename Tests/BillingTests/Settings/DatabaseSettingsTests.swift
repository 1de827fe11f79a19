import Foundation
import Testing

@testable import Billing

/// `DATABASE_URL` and the settings beside it: every form the docs name, and a password never repeated in a problem.
@Suite struct DatabaseSettingsTests {
    static func load(_ extra: [String: String]) async throws -> LoopSettings {
        try await SettingsLoaderTests.load(SettingsLoaderTests.minimal.merging(extra) { $1 }).loop
    }

    static func problems(_ extra: [String: String]) async -> [String] {
        await SettingsLoaderTests.problems(SettingsLoaderTests.minimal.merging(extra) { $1 })
    }

    @Test("a postgres:// URL: host, port, user, password, database, sslmode and sslrootcert")
    func postgresURL() async throws {
        let loop = try await Self.load([
            "DATABASE_URL":
                "postgresql://billing:p%40ss%2Fword@db.internal:6543/billing_prod?sslmode=verify-full&sslrootcert=/etc/ssl/ca.pem"
        ])
        #expect(
            loop.database
                == .postgres(
                    PostgresLocation(
                        host: "db.internal", port: 6543, user: "billing", password: Secret("p@ss/word"),
                        database: "billing_prod", sslMode: .verifyFull, rootCertificatePath: "/etc/ssl/ca.pem")))
        let plain = try await Self.load(["DATABASE_URL": "postgres://billing@[::1]/billing"])
        #expect(
            plain.database
                == .postgres(PostgresLocation(host: "::1", port: 5432, user: "billing", password: nil, database: "billing")))
        if case .postgres(let location) = plain.database {
            #expect(location.sslMode == .prefer, "libpq's default")
            #expect(location.description == "postgres://billing@[::1]:5432/billing?sslmode=prefer")
        }
    }

    @Test("the password from DATABASE_PASSWORD or DATABASE_PASSWORD_FILE; not both a URL password and one of those")
    func separatePassword() async throws {
        let fromVariable = try await Self.load([
            "DATABASE_URL": "postgres://billing@db/billing", "DATABASE_PASSWORD": "from-variable",
        ])
        guard case .postgres(let location) = fromVariable.database else { Issue.record("not postgres"); return }
        #expect(location.password == Secret("from-variable"))
        let file = try SettingsLoaderTests.file("from-file\n")
        let fromFile = try await Self.load(["DATABASE_URL": "postgres://billing@db/billing", "DATABASE_PASSWORD_FILE": file])
        guard case .postgres(let filed) = fromFile.database else { Issue.record("not postgres"); return }
        #expect(filed.password == Secret("from-file"))
        let both = await Self.problems([
            "DATABASE_URL": "postgres://billing:in-url@db/billing", "DATABASE_PASSWORD": "from-variable",
        ])
        #expect(both.count == 1)
        #expect(both.first?.contains("keep one") == true)
        let sqlite = await Self.problems(["DATABASE_URL": "sqlite:/tmp/x.sqlite", "DATABASE_PASSWORD": "pw"])
        #expect(sqlite.first?.contains("postgres:// DATABASE_URL only") == true)
    }

    @Test(
        "a malformed DATABASE_URL is one problem that says why and never repeats the password",
        arguments: [
            ("postgres://billing:pw-marker-1@db/billing?sslmode=sometimes", "sslmode must be one of"),
            ("postgres://billing:pw-marker-1@db/billing?connect_timeout=3", "unsupported parameter connect_timeout"),
            ("postgres://billing:pw-marker-1@db:0/billing", "the port must be 1 to 65535"),
            ("postgres://billing:pw-marker-1@db/", "no database name"),
            ("postgres://:pw-marker-1@db/billing", "no user name"),
            ("postgres://billing:pw-marker-1@/billing", "no host"),
            ("postgres://billing:pw-marker-1@db/billing?sslrootcert=relative.pem", "sslrootcert must be an absolute path"),
            ("mysql://billing:pw-marker-1@db/billing", "unknown scheme"),
            ("sqlite:relative/path", "absolute file path"),
        ])
    func malformed(url: String, reason: String) async {
        let problems = await Self.problems(["DATABASE_URL": url])
        #expect(problems.count == 1, "\(problems)")
        #expect(problems.first?.hasPrefix("database.url (DATABASE_URL) must be ") == true)
        #expect(problems.first?.contains(reason) == true, "\(problems)")
        #expect(problems.allSatisfy { !$0.contains("pw-marker-1") })
    }

    @Test("DATABASE_TIMEOUT_SECONDS and DATABASE_POOL_SIZE: defaults, ranges")
    func timeoutAndPool() async throws {
        let defaults = try await Self.load([:])
        #expect(defaults.databaseTimeoutSeconds == 5)
        #expect(defaults.databasePoolSize == nil)
        #expect(LoopSettings.defaultPoolSize(workers: 160) == 10)
        #expect(LoopSettings.defaultPoolSize(workers: 4) == 4)
        let set = try await Self.load(["DATABASE_TIMEOUT_SECONDS": "2", "DATABASE_POOL_SIZE": "3"])
        #expect(set.databaseTimeoutSeconds == 2)
        #expect(set.databasePoolSize == 3)
        #expect(await Self.problems(["DATABASE_TIMEOUT_SECONDS": "0"]).count == 1)
        #expect(await Self.problems(["DATABASE_POOL_SIZE": "0"]).count == 1)
    }
}
