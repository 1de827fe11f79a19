/// The origin of an absolute http(s) URL: scheme, host and port, as browsers compare them.
public struct Origin: Sendable, Hashable, CustomStringConvertible {
    /// `http` or `https`, lowercased.
    public var scheme: String
    /// The host, lowercased; IPv6 hosts keep their brackets.
    public var host: String
    /// The port, with the scheme's default filled in.
    public var port: Int

    /// Why a string is not an absolute http(s) URL.
    public enum ParseError: Error, Equatable, CustomStringConvertible {
        /// No `http://` or `https://` in front.
        case notHTTP
        /// Nothing, or something malformed, where the host should be.
        case invalidHost
        /// A port that is not a number from 1 to 65535.
        case invalidPort
        /// `user:password@` before the host, a classic way to disguise the real host.
        case userInfo

        /// The reason, phrased for an error message.
        public var description: String {
            switch self {
            case .notHTTP: "URL must be absolute and use http or https"
            case .invalidHost: "URL has no valid host"
            case .invalidPort: "URL has an invalid port"
            case .userInfo: "URL must not contain user information"
            }
        }
    }

    /// Creates an origin from its parts.
    public init(scheme: String, host: String, port: Int) {
        self.scheme = scheme
        self.host = host
        self.port = port
    }

    /// Parses the origin of `url`, which must be an absolute http(s) URL.
    ///
    /// Written to the WHATWG reading browsers use: `\` ends the authority like `/` does, so that
    /// `https://evil.example\@app.example` is seen as evil.example, as a browser would navigate.
    public init(url: String) throws(ParseError) {
        let lowered = url.lowercased()
        let scheme: String
        if lowered.hasPrefix("https://") {
            scheme = "https"
        } else if lowered.hasPrefix("http://") {
            scheme = "http"
        } else {
            throw .notHTTP
        }
        let afterScheme = lowered.dropFirst(scheme.count + 3)
        let authority = afterScheme.prefix { !"/?#\\".contains($0) }
        if authority.contains("@") { throw .userInfo }
        var host = Substring(authority)
        var port = scheme == "https" ? 443 : 80
        if let portStart = Self.portSeparator(in: authority) {
            host = authority[..<portStart]
            let digits = authority[authority.index(after: portStart)...]
            if !digits.isEmpty {
                guard digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber), digits.count <= 5,
                    let number = Int(digits), (1...65535).contains(number)
                else { throw .invalidPort }
                port = number
            }
        }
        guard Self.isValidHost(host) else { throw .invalidHost }
        self.init(scheme: scheme, host: String(host), port: port)
    }

    /// Where `:port` starts, skipping the colons inside an IPv6 literal.
    private static func portSeparator(in authority: Substring) -> Substring.Index? {
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            let rest = authority[authority.index(after: close)...]
            return rest.first == ":" ? rest.startIndex : nil
        }
        return authority.firstIndex(of: ":")
    }

    private static func isValidHost(_ host: Substring) -> Bool {
        guard !host.isEmpty, host.utf8.count <= 253 else { return false }
        if host.hasPrefix("[") {
            return host.hasSuffix("]")
                && host.dropFirst().dropLast().allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." }
        }
        // Letters, digits, '-', '.', and non-ASCII (internationalized names); nothing that could end or hide the host.
        return host.unicodeScalars.allSatisfy { scalar in
            scalar.value > 0x7F || ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar) || scalar == "-"
                || scalar == "." || scalar == "_"
        }
    }

    /// `scheme://host[:port]`, the port shown only when it is not the default.
    public var description: String {
        let defaultPort = scheme == "https" ? 443 : 80
        return port == defaultPort ? "\(scheme)://\(host)" : "\(scheme)://\(host):\(port)"
    }
}
