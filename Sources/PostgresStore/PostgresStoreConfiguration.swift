import NIOSSL
import PostgresNIO

/// Where the PostgreSQL store connects, and how.
public struct PostgresStoreConfiguration: Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var username: String
    /// Never part of `description`.
    public var password: String?
    public var database: String
    public var tls: TLSMode
    /// PEM CA certificates for `verifyCA` / `verifyFull`; nil: the system's.
    public var rootCertificatePath: String?
    /// Connections this process may hold at once.
    public var poolSize: Int
    /// How long one operation (a connection from the pool, then its statements) may take.
    public var timeoutSeconds: Int

    /// libpq's `sslmode`, with libpq's meaning.
    public enum TLSMode: String, Sendable {
        case disable, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public init(
        host: String, port: Int, username: String, password: String?, database: String, tls: TLSMode,
        rootCertificatePath: String?, poolSize: Int, timeoutSeconds: Int
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        self.rootCertificatePath = rootCertificatePath
        self.poolSize = poolSize
        self.timeoutSeconds = timeoutSeconds
    }

    /// The server and database, without the password.
    public var description: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(username)@\(shownHost):\(port)/\(database)?sslmode=\(tls.rawValue)"
    }

    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        var configuration = PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: try connectionTLS())
        configuration.options.connectTimeout = .seconds(Int64(timeoutSeconds))
        // The server gives up on its side too: a statement that waits for a lock, or runs, past the timeout is
        // cancelled and its transaction rolled back, so an operation the client stopped waiting for (and
        // answered 503) does not commit later; a transaction left open by a stalled client ends.
        let milliseconds = String(timeoutSeconds * 1000)
        configuration.options.additionalStartupParameters = [
            ("lock_timeout", milliseconds), ("statement_timeout", milliseconds),
            ("idle_in_transaction_session_timeout", String(max(10, 2 * timeoutSeconds) * 1000)),
            ("application_name", "billing-checkout"),
        ]
        return configuration
    }

    private func connectionTLS() throws -> PostgresConnection.Configuration.TLS {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let rootCertificatePath { tls.trustRoots = .file(rootCertificatePath) }
        switch self.tls {
        case .disable:
            return .disable
        case .prefer:
            tls.certificateVerification = .none
            return .prefer(try NIOSSLContext(configuration: tls))
        case .require:
            tls.certificateVerification = .none
            return .require(try NIOSSLContext(configuration: tls))
        case .verifyCA:
            tls.certificateVerification = .noHostnameVerification
            return .require(try NIOSSLContext(configuration: tls))
        case .verifyFull:
            tls.certificateVerification = .fullVerification
            return .require(try NIOSSLContext(configuration: tls))
        }
    }
}
