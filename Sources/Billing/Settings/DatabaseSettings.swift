import Configuration
import Foundation

/// Which engine holds the billing state, from `DATABASE_URL`.
public enum DatabaseLocation: Sendable, Equatable {
    /// `none`: stateless; checkout only, the loop's other routes answer 404.
    case none
    /// `sqlite:PATH`: one file on this host.
    case sqlite(path: String)
    /// `postgres://…`: a PostgreSQL database that several hosts share.
    case postgres(PostgresLocation)
}

/// A PostgreSQL server and database, from `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…]`.
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    /// From the URL, or `DATABASE_PASSWORD` / `DATABASE_PASSWORD_FILE`; never logged.
    public var password: Secret?
    public var database: String
    public var sslMode: SSLMode
    /// `sslrootcert`: the CA certificates (PEM) a `verify-ca` / `verify-full` server certificate must chain to;
    /// nil: the system's.
    public var rootCertificatePath: String?

    /// libpq's `sslmode` values, with libpq's meaning.
    public enum SSLMode: String, Sendable, CaseIterable {
        /// Plain TCP.
        case disable
        /// TLS when the server offers it, unverified; plain otherwise (libpq's default).
        case prefer
        /// TLS, unverified.
        case require
        /// TLS, the certificate chains to the root certificates; any host name.
        case verifyCA = "verify-ca"
        /// TLS, the certificate chains to the root certificates and names the host.
        case verifyFull = "verify-full"
    }

    public init(
        host: String, port: Int = 5432, user: String, password: Secret?, database: String, sslMode: SSLMode = .prefer,
        rootCertificatePath: String? = nil
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.sslMode = sslMode
        self.rootCertificatePath = rootCertificatePath
    }

    /// The URL without its password, for logs and errors.
    public var description: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(user)@\(shownHost):\(port)/\(database)?sslmode=\(sslMode.rawValue)"
    }
}

extension DatabaseLocation {
    /// What `DATABASE_URL` must look like, for the settings error.
    static let expected = "sqlite:/absolute/path, postgres://user[:password]@host[:port]/database[?sslmode=…], or none"

    /// Reads `DATABASE_URL`; nil (and a reason) for anything else. The text may hold a password: the reason
    /// never repeats it.
    static func parse(_ text: String) -> Result<DatabaseLocation, DatabaseURLError> {
        let lowered = text.lowercased()
        if lowered == "none" { return .success(DatabaseLocation.none) }
        if lowered.hasPrefix("sqlite:") {
            var path = String(text.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path.removeFirst(2) }
            guard path.hasPrefix("/"), !path.hasSuffix("/"), !path.contains("\u{0}") else {
                return .failure(DatabaseURLError("a sqlite: URL needs an absolute file path"))
            }
            return .success(.sqlite(path: path))
        }
        if lowered.hasPrefix("postgres://") || lowered.hasPrefix("postgresql://") {
            return PostgresLocation.parse(text).map { .postgres($0) }
        }
        return .failure(DatabaseURLError("unknown scheme"))
    }
}

/// Why `DATABASE_URL` was refused, without its text (it may hold a password).
struct DatabaseURLError: Error {
    var reason: String
    init(_ reason: String) { self.reason = reason }
}

extension PostgresLocation {
    /// Parses a libpq-style URL: user and database required, port 1–65535 (default 5432), query parameters
    /// `sslmode` and `sslrootcert` only.
    static func parse(_ text: String) -> Result<PostgresLocation, DatabaseURLError> {
        guard text.utf8.count <= 4096, !text.contains(where: { $0.isWhitespace || $0 == "\u{0}" }),
            let components = URLComponents(string: text)
        else { return .failure(DatabaseURLError("not a valid URL")) }
        guard let host = components.host?.nonEmpty else { return .failure(DatabaseURLError("no host")) }
        guard let user = components.user?.nonEmpty else { return .failure(DatabaseURLError("no user name")) }
        let port = components.port ?? 5432
        guard (1...65535).contains(port) else { return .failure(DatabaseURLError("the port must be 1 to 65535")) }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else {
            return .failure(DatabaseURLError("no database name (postgres://user@host/DATABASE)"))
        }
        var location = PostgresLocation(
            host: host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host, port: port, user: user,
            password: components.password.map(Secret.init), database: database)
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value.flatMap(SSLMode.init(rawValue:)) else {
                    let modes = SSLMode.allCases.map(\.rawValue).joined(separator: ", ")
                    return .failure(DatabaseURLError("sslmode must be one of \(modes)"))
                }
                location.sslMode = mode
            case "sslrootcert":
                guard let path = item.value?.nonEmpty, path.hasPrefix("/") else {
                    return .failure(DatabaseURLError("sslrootcert must be an absolute path"))
                }
                location.rootCertificatePath = path
            default:
                return .failure(
                    DatabaseURLError("unsupported parameter \(item.name.loggable(limit: 40)) (sslmode and sslrootcert only)"))
            }
        }
        return .success(location)
    }
}

extension SettingsReader {
    /// `DATABASE_URL` (default: the SQLite file at `LoopSettings.defaultSQLitePath`), read as a secret since a
    /// PostgreSQL URL may hold a password; `DATABASE_PASSWORD` or `DATABASE_PASSWORD_FILE` set the password apart
    /// from it.
    mutating func databaseLocation() -> DatabaseLocation {
        let text =
            config.string(forKey: ConfigKey("database.url"), isSecret: true)?.trimmingCharacters(in: .whitespaces)
            .nonEmpty ?? "sqlite:\(LoopSettings.defaultSQLitePath)"
        let separate = secret("database.password", variable: "DATABASE_PASSWORD")
        switch DatabaseLocation.parse(text) {
        case .failure(let error):
            problems.append("database.url (DATABASE_URL) must be \(DatabaseLocation.expected): \(error.reason)")
            return DatabaseLocation.none
        case .success(.postgres(var location)):
            if let separate {
                if location.password != nil {
                    problems.append(
                        "database.password (DATABASE_PASSWORD) is set and DATABASE_URL holds a password too: keep one")
                }
                location.password = separate
            }
            return .postgres(location)
        case .success(let location):
            if separate != nil {
                problems.append("database.password (DATABASE_PASSWORD) applies to a postgres:// DATABASE_URL only")
            }
            return location
        }
    }
}
