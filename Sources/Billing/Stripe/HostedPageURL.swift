/// The rule for a URL that Stripe returns and the browser is sent to: an `https` URL on one of Stripe's hosts.
///
/// The URL comes from an answer this process did not write, and goes to the browser as it is, so it is checked
/// like any outside input: a `javascript:` URL, another host, plain `http`, user info
/// (`https://checkout.stripe.com@evil.com/`) or an oversized value never reaches the client.
public enum HostedPageURL {
    /// The longest URL passed on, in bytes (Stripe's Checkout and portal URLs are a few hundred).
    public static let maxLength = 4096

    /// Nil when `url` may go to the browser, else why it may not.
    ///
    /// `hosts` are lowercase host names; the URL's host must be one of them exactly, on the default port.
    public static func violation(in url: String, hosts: Set<String>) -> String? {
        let bytes = Array(url.utf8)
        guard bytes.count <= maxLength else { return "longer than \(maxLength) bytes" }
        // Printable ASCII only, and none of the characters a URL never holds unescaped.
        let forbidden = Set(" \"<>\\^`{|}".utf8)
        guard bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F && !forbidden.contains($0) }) else {
            return "not printable ASCII, or holds a character a URL must escape"
        }
        let scheme = "https://".utf8
        guard bytes.count > scheme.count, bytes.prefix(scheme.count).map(lowercased).elementsEqual(scheme) else {
            return "not an https URL"
        }
        let rest = bytes.dropFirst(scheme.count)
        let authorityEnd =
            rest.firstIndex(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") })
            ?? rest.endIndex
        var host = rest[rest.startIndex..<authorityEnd].map(lowercased)
        guard !host.contains(UInt8(ascii: "@")) else { return "holds user info" }
        if host.count >= 4, host.suffix(4).elementsEqual(":443".utf8) { host.removeLast(4) }
        let name = String(decoding: host, as: UTF8.self)
        guard hosts.contains(name) else { return "host \(name.loggable(limit: 100)) is not one of Stripe's" }
        return nil
    }

    private static func lowercased(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
    }
}
