extension JSONValue: ExpressibleByStringLiteral {
    /// A string literal is a JSON string, so error bodies read like the JSON they produce.
    public init(stringLiteral value: String) {
        self = .string(value)
    }
}
