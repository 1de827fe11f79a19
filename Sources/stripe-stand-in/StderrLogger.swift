import FlyingSocks
import Foundation

/// A FlyingFox logger that writes to standard error, so stdout keeps only the `listening on` line.
struct StderrLogger: Logging {

    /// Writes one tagged line to standard error.
    private func write(_ level: String, _ message: String) {
        FileHandle.standardError.write(Data("[stripe-stand-in] \(level): \(message)\n".utf8))
    }

    /// Logs a debug message.
    func logDebug(_ debug: @autoclosure () -> String) { write("debug", debug()) }
    /// Logs an informational message.
    func logInfo(_ info: @autoclosure () -> String) { write("info", info()) }
    /// Logs a warning.
    func logWarning(_ warning: @autoclosure () -> String) { write("warning", warning()) }
    /// Logs an error.
    func logError(_ error: @autoclosure () -> String) { write("error", error()) }
    /// Logs a critical error.
    func logCritical(_ critical: @autoclosure () -> String) { write("critical", critical()) }
}
