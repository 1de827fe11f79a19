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

/// Runs a program to completion with an exact environment and stdin, off Swift's cooperative pool.
enum ProcessRunner {
    static func run(
        _ executable: URL, arguments: [String] = [], environment: [String: String], stdin: Data = Data(),
        timeout: Double = 60
    ) async throws -> ProcessResult {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                do {
                    continuation.resume(
                        returning: try runBlocking(
                            executable, arguments: arguments, environment: environment, stdin: stdin, timeout: timeout))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
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
        DispatchQueue.global().async {
            outData = output.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        group.enter()
        DispatchQueue.global().async {
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
