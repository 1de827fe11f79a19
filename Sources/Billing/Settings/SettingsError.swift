/// Settings could not be loaded; `problems` has one line per missing or invalid setting.
public struct SettingsError: Error, CustomStringConvertible {
    /// One human-readable line per problem, naming the setting and its environment variable.
    public var problems: [String]
    /// The problems, one per line.
    public var description: String { problems.joined(separator: "\n") }

    /// An error for `problems`, one line each.
    public init(problems: [String]) {
        self.problems = problems
    }
}
