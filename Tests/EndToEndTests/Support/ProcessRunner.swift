import Foundation

/// What a finished child process left behind.
struct ProcessResult: Sendable {
    var exitCode: Int32
    var stdout: Data
    var stderr: Data
    var elapsed: Duration

    var stderrText: String { String(decoding: stderr, as: UTF8.self) }
    var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
}

/// Runs a program to completion with an exact environment and stdin, on threads of its own (see `Blocking`).
enum ProcessRunner {
    static func run(
        _ executable: URL, arguments: [String] = [], environment: [String: String], stdin: Data = Data(),
        timeout: Double = 60
    ) async throws -> ProcessResult {
        try await Blocking.run {
            try runBlocking(executable, arguments: arguments, environment: environment, stdin: stdin, timeout: timeout)
        }
    }

    private static func runBlocking(
        _ executable: URL, arguments: [String], environment: [String: String], stdin: Data, timeout: Double
    ) throws -> ProcessResult {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        let started = ContinuousClock.now
        try process.run()
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data()
        nonisolated(unsafe) var errData = Data()
        group.enter()
        Thread.detachNewThread {
            outData = output.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        group.enter()
        Thread.detachNewThread {
            errData = errors.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        // A program that reads less than we offer closes its stdin early; SIGPIPE is ignored by the test runner.
        try? input.fileHandleForWriting.write(contentsOf: stdin)
        try? input.fileHandleForWriting.close()
        if group.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            throw SupportError("\(executable.lastPathComponent) did not finish within \(timeout) s")
        }
        process.waitUntilExit()
        return ProcessResult(
            exitCode: process.terminationStatus, stdout: outData, stderr: errData,
            elapsed: ContinuousClock.now - started)
    }
}
