import CFastCGI

/// Where the FastCGI process takes connections from.
public enum ListenAddress: Sendable, Equatable {
    /// The socket the web server (or spawn-fcgi, or systemd) handed over as file descriptor 0.
    case inherited
    /// A TCP address, `HOST:PORT` or `:PORT` (all interfaces).
    case tcp(host: String, port: Int)
    /// A Unix-domain socket path.
    case unix(path: String)

    /// Parses the argument of `--listen`: `HOST:PORT`, `:PORT`, or a path (anything containing `/`).
    public init?(argument: String) {
        if argument.contains("/") {
            self = .unix(path: argument)
            return
        }
        guard let colon = argument.lastIndex(of: ":"),
            let port = Int(argument[argument.index(after: colon)...]),
            (1...65535).contains(port)
        else { return nil }
        var host = String(argument[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self = .tcp(host: host, port: port)
    }

    /// Opens the listening socket, returning its descriptor, or nil with the reason.
    func open(backlog: Int32) -> Result<Int32, ListenError> {
        if self == .inherited { return .success(0) }
        let spec = description
        let fd = FCGX_OpenSocket(spec, backlog)
        return fd < 0 ? .failure(ListenError(address: spec)) : .success(fd)
    }
}

/// The listening socket could not be opened (address in use, bad host, no permission), or failed while serving.
public struct ListenError: Error, CustomStringConvertible {
    /// The address as given to libfcgi, or `fd 0` for the inherited socket.
    public var address: String
    /// Why accepting on it failed for good while serving; nil when it could not be opened at all.
    public var failure: String? = nil
    /// A one-line explanation.
    public var description: String {
        if let failure { return "stopped serving on \(address): \(failure)" }
        return "cannot listen on \(address) (in use, unknown host, or no permission)"
    }
}

extension ListenAddress: CustomStringConvertible {
    /// The address as `--listen` takes it, or `fd 0`.
    public var description: String {
        switch self {
        case .inherited: "fd 0"
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): path
        }
    }
}
