import Billing
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Writes one line per log event to stderr with a single `write(2)`, as `LogLine` formats it:
/// `ts=2026-11-25T12:00:00.123Z level=info logger=label msg=message k=v …`, or a JSON object per line.
///
/// swift-log's `StreamLogHandler` locks, formats through stdio and flushes on every line; this handler builds
/// the line in one buffer and hands it to the kernel once, which matters at one line per request.
/// Lines under PIPE_BUF (4 KiB) are atomic on a pipe, so lines from concurrent workers never interleave.
struct StderrLogHandler: LogHandler {
    /// The format of every handler's lines: set once from the settings, which load after logging is bootstrapped.
    static var format: LogFormat {
        get { currentFormat.withLock { $0 } }
        set { currentFormat.withLock { $0 = newValue } }
    }
    private static let currentFormat = Mutex(LogFormat.logfmt)

    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    private let label: String

    /// Creates a handler for a logger's label.
    init(label: String) {
        self.label = label
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let line = LogLine(
            timestamp: Self.timestamp(), level: event.level, label: label, message: "\(event.message)",
            metadata: merged
        ).encoded(as: Self.format)
        line.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(2, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return }
                offset += written
            }
        }
    }

    /// UTC time with milliseconds, formatted by hand: no locale, no stdio.
    private static func timestamp() -> String {
        var line: [UInt8] = []
        line.reserveCapacity(24)
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func digits(_ value: Int, _ count: Int) {
            var divisor = 1
            for _ in 1..<count { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                line.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4)
        line.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2)
        line.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2)
        line.append(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2)
        line.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2)
        line.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2)
        line.append(UInt8(ascii: "."))
        digits(Int(now.tv_nsec) / 1_000_000, 3)
        line.append(UInt8(ascii: "Z"))
        return String(decoding: line, as: UTF8.self)
    }
}
