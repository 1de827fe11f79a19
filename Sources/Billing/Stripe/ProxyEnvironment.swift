#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The environment variables libcurl (under URLSession on Linux) takes a proxy from, cleared at start.
///
/// No proxy is ever taken from the environment (docs/behaviour.md): in CGI `HTTP_PROXY` is the client's `Proxy:`
/// header (httpoxy), and an operator's `https_proxy` or `all_proxy` would route the secret key through a host
/// nobody configured for this program. `URLSessionConfiguration.connectionProxyDictionary = [:]` does not stop
/// it: FoundationNetworking on Linux never hands that dictionary to libcurl, and libcurl reads these variables
/// itself on every transfer (`http_proxy` for `http://` — never `HTTP_PROXY` there —, `https_proxy` or
/// `HTTPS_PROXY` for `https://`, then `all_proxy` or `ALL_PROXY`; `no_proxy`/`NO_PROXY` exempt hosts).
public enum ProxyEnvironment {
    /// Every variable libcurl reads a proxy (or a proxy exemption) from for the schemes Stripe is called with.
    public static let variables = [
        "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY",
    ]

    /// Removes them from the process environment. Call it first, before any thread or `URLSession` exists
    /// (`unsetenv` is not thread-safe).
    public static func clear() {
        for name in variables { unsetenv(name) }
    }
}
