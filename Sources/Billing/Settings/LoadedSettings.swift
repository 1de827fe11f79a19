import Configuration

/// The settings as read: the application's, the reader they came from (for the other parts' settings), and every
/// problem found.
public struct LoadedSettings: Sendable {
    /// The application's settings; nil when any of them is missing or invalid.
    public var settings: Settings?
    /// The trusted environment over `BILLING_ENV_FILE` over `BILLING_CONFIG`, for the transport's settings.
    public var reader: ConfigReader
    /// One line per problem, the files' first.
    public var problems: [String]
}
