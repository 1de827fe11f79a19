/// How log lines are written (`logFormat`, `LOG_FORMAT`).
public enum LogFormat: String, Sendable, CaseIterable {
    /// `ts=… level=… logger=… msg=… key=value …`, values quoted and escaped where they need it.
    case logfmt
    /// One JSON object per line: `ts`, `level`, `logger`, `msg`, then the metadata.
    case json
}
