import Testing

@testable import FastCGI

/// `Lifecycle`: a serving process's states and their transitions, without a socket.
@Suite struct LifecycleTests {
    static let start = ContinuousClock.now

    @Test("a stop on a socket that can be shut drains without a deadline")
    func stopOnShutSocket() {
        var state = Lifecycle.serving
        #expect(state.isServing)
        state.stop(at: Self.start, socketCanBeShut: true)
        #expect(state == .draining(deadline: nil, failure: nil))
        #expect(!state.isServing && !state.isDrained)
        #expect(!state.drainTimeIsUp(at: Self.start + .seconds(3600)))
    }

    @Test("a stop on a socket that cannot be shut drains for two seconds at most")
    func stopOnOpenSocket() {
        var state = Lifecycle.serving
        state.stop(at: Self.start, socketCanBeShut: false)
        #expect(state == .draining(deadline: Self.start + .seconds(2), failure: nil))
        #expect(!state.drainTimeIsUp(at: Self.start + .milliseconds(1999)))
        #expect(state.drainTimeIsUp(at: Self.start + .seconds(2)))
    }

    @Test("a later stop keeps the drain's deadline; the first failure is the one kept, through the end")
    func failures() {
        var state = Lifecycle.serving
        state.stop(at: Self.start, socketCanBeShut: false)
        state.stop(at: Self.start + .seconds(1), socketCanBeShut: false, failure: "socket shut by another process")
        state.stop(at: Self.start + .seconds(1), socketCanBeShut: false, failure: "accept failed")
        #expect(state == .draining(deadline: Self.start + .seconds(2), failure: "socket shut by another process"))
        state.finishDraining()
        #expect(state == .drained(failure: "socket shut by another process"))
        #expect(state.isDrained && !state.isServing)
        #expect(!state.drainTimeIsUp(at: Self.start + .seconds(3)))
    }

    @Test("a process that was only signalled ends without a failure")
    func signalled() {
        var state = Lifecycle.serving
        #expect(state.failure == nil)
        state.stop(at: Self.start, socketCanBeShut: true)
        state.finishDraining()
        #expect(state == .drained(failure: nil))
        #expect(state.failure == nil)
    }
}
