extension String {
    /// The value as it may appear in a log line: at most `limit` characters, printable ASCII only (others as `?`),
    /// so that a client-chosen path, user id or header stays short and readable.
    ///
    /// This is not what keeps lines whole: `LogLine` quotes and escapes every value, this one included.
    func loggable(limit: Int) -> String {
        String(
            unicodeScalars.prefix(limit).map { scalar in
                scalar.isASCII && scalar.value >= 0x20 && scalar.value < 0x7F ? Character(scalar) : "?"
            })
    }
}
