import Configuration

extension TransportConfiguration {
    /// Reads the transport's settings from `reader`, which holds the application's too (environment, `.env`,
    /// `BILLING_CONFIG`), so that one `--check` reports every problem at once.
    ///
    /// - Configuration keys (and their environment variables):
    ///   - `workers` (`WORKERS`, whole number, 1–1024)
    ///   - `maxBodyBytes` (`MAX_BODY_BYTES`, whole number, 1024–16777216)
    ///   - `bodyTimeoutSeconds` (`BODY_TIMEOUT_SECONDS`, whole number, 1–600)
    ///   - `fastcgiDispatch` (`FASTCGI_DISPATCH`, `tasks` or `threads`, in any case)
    ///
    /// A key that is not set keeps its default; one that is invalid keeps it too, and adds a line naming the key
    /// and its variable to `problems`, by the rules and in the words of the application's settings.
    public init(reader: ConfigReader, problems: inout [String]) {
        self.init()
        let dispatchName = (reader.trimmedString("fastcgiDispatch") ?? dispatch.rawValue).lowercased()
        if let dispatch = Dispatch(rawValue: dispatchName) {
            self.dispatch = dispatch
        } else {
            let names = Dispatch.allCases.map(\.rawValue).joined(separator: ", ")
            problems.append("fastcgiDispatch (FASTCGI_DISPATCH) must be one of \(names), got \(dispatchName)")
        }
        maxBodyBytes =
            reader.wholeNumber("maxBodyBytes", variable: "MAX_BODY_BYTES", in: Self.maxBodyBytesRange, &problems)
            ?? maxBodyBytes
        bodyTimeoutSeconds =
            reader.wholeNumber(
                "bodyTimeoutSeconds", variable: "BODY_TIMEOUT_SECONDS", in: Self.bodyTimeoutSecondsRange, &problems)
            ?? bodyTimeoutSeconds
        workers = reader.wholeNumber("workers", variable: "WORKERS", in: Self.workersRange, &problems) ?? workers
    }
}

extension ConfigReader {
    /// The value of `key` as text, without surrounding blanks; nil when unset or blank.
    fileprivate func trimmedString(_ key: String) -> String? {
        guard let value = string(forKey: ConfigKey(key)) else { return nil }
        let scalars = value.unicodeScalars
        let isBlank = { (scalar: Unicode.Scalar) in
            scalar == "\t" || scalar.properties.generalCategory == .spaceSeparator
        }
        guard let first = scalars.firstIndex(where: { !isBlank($0) }),
            let last = scalars.lastIndex(where: { !isBlank($0) })
        else { return nil }
        return String(scalars[first...last])
    }

    /// The value of `key` as a whole number in `range`: a JSON integer, or text that is one (the environment's
    /// form). Any other value, a JSON fraction or a number out of range included, is a problem and reads as nil.
    fileprivate func wholeNumber(
        _ key: String, variable: String, in range: ClosedRange<Int>, _ problems: inout [String]
    ) -> Int? {
        let text = trimmedString(key)
        let value = int(forKey: ConfigKey(key)) ?? text.flatMap { Int($0) }
        if let value, range.contains(value) { return value }
        if value != nil || text != nil || double(forKey: ConfigKey(key)) != nil {
            problems.append(
                "\(key) (\(variable)) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return nil
    }
}
