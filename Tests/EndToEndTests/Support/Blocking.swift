import Foundation

/// Runs blocking work (a read, a wait for a child process) on a thread of its own and awaits its result.
///
/// Not `DispatchQueue.global()`: on Linux its threads are as many as the CPUs and new ones come only after
/// a second or more of all of them blocking, and Swift's tasks wait behind them meanwhile. Tests that held
/// several of those threads in reads made other tests' 100 ms sleeps last 0.4 s and their answers 4 s.
enum Blocking {
    static func run<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Swift.Result { try body() })
            }
        }
    }
}
