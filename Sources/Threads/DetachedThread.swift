#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Starts threads of the process's own, outside Swift's cooperative pool, that nobody joins.
///
/// Such a thread may block (in `accept`, on a request's answer, until the next deadline) without taking a thread
/// that tasks need.
public enum DetachedThread {
    /// The system refused to start a thread.
    public struct StartError: Error, CustomStringConvertible {
        /// The error number `pthread_create` returned.
        public var code: Int32
        /// The call and its error number.
        public var description: String { "pthread_create failed with error \(code)" }
    }

    /// Starts a detached thread with a stack of `stackSize` bytes that runs `body` and ends.
    public static func start(stackSize: Int, _ body: @escaping @Sendable () -> Void) throws(StartError) {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, stackSize)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        let code = pthread_create(
            &thread, &attributes,
            { context in
                Unmanaged<Body>.fromOpaque(context!).takeRetainedValue().run()
                return nil
            }, context)
        if code != 0 {
            Unmanaged<Body>.fromOpaque(context).release()
            throw StartError(code: code)
        }
    }

    /// The closure, boxed to pass through `pthread_create`'s context pointer.
    private final class Body: Sendable {
        let run: @Sendable () -> Void

        init(_ run: @escaping @Sendable () -> Void) {
            self.run = run
        }
    }
}
