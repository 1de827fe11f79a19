/// A secret setting: usable by the code that needs it, and printed as `<redacted>` everywhere else.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The secret itself; read it only where it is sent (the Stripe call, the key collection).
    public let value: String

    /// Wraps a secret value.
    public init(_ value: String) {
        self.value = value
    }

    /// Always `<redacted>`, so that interpolating a secret into a log line leaks nothing.
    public var description: String { "<redacted>" }
    /// Always `<redacted>`.
    public var debugDescription: String { "<redacted>" }
}
