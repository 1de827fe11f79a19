/// The rules a `success_url` or `cancel_url` must meet before it is sent to Stripe (an open redirect otherwise).
public struct RedirectURLPolicy: Sendable {
    /// The longest URL accepted, in characters.
    public static let maxLength = 2048

    /// Origins the URLs may point at.
    public var allowedOrigins: Set<Origin>

    /// Creates a policy for a set of allowed origins.
    public init(allowedOrigins: Set<Origin>) {
        self.allowedOrigins = allowedOrigins
    }

    /// Nil when `url` may be used, else the reason it may not.
    ///
    /// The URL itself is never rewritten: Stripe's `{CHECKOUT_SESSION_ID}` placeholder must reach Stripe as written.
    public func violation(in url: String) -> String? {
        if url.unicodeScalars.count > Self.maxLength {
            return "URL must be at most \(Self.maxLength) characters"
        }
        if url.unicodeScalars.contains(where: {
            $0.value < 0x20 || $0.value == 0x7F || (0x80...0x9F).contains($0.value)
        }) {
            return "URL must not contain control characters"
        }
        if url.unicodeScalars.contains(where: { $0.properties.isWhitespace }) {
            return "URL must not contain whitespace"
        }
        // Browsers read `\` as `/` and Stripe refuses it: a URL with one is never sent on.
        if url.unicodeScalars.contains("\\") {
            return "URL must not contain a backslash"
        }
        let origin: Origin
        do throws(Origin.ParseError) {
            origin = try Origin(url: url)
        } catch {
            return error.description
        }
        guard allowedOrigins.contains(origin) else {
            return "URL origin \(origin) is not allowed"
        }
        return nil
    }
}
