/// How the transport serves requests: how many at once and in which way, and how much of a body it reads and for
/// how long. Each default is written here, once.
///
/// The application never sees these: a body over `maxBodyBytes` reaches it as `Request.Body.tooLarge`.
public struct TransportConfiguration: Sendable, Equatable {
    /// How an accepted request is served while the application awaits Stripe.
    public enum Dispatch: String, Sendable, CaseIterable {
        /// A few accepting threads read each request and hand it to a Swift task, which answers it and writes
        /// the answer itself; at most `workers` requests are in flight.
        case tasks
        /// A pool of `workers` threads; each accepts a request, blocks until the application has answered it,
        /// writes the answer and accepts the next.
        case threads
    }

    /// How many requests one FastCGI process serves at once; further connections wait in the socket's backlog.
    public var workers: Int
    /// The largest request body read, in bytes; a larger one is not kept.
    public var maxBodyBytes: Int
    /// How long a FastCGI process waits for the next part of a request body; a body that stops coming for longer
    /// ends short, and its request gets a 400.
    public var bodyTimeoutSeconds: Int
    /// How a FastCGI process serves its requests.
    public var dispatch: Dispatch

    /// Creates a configuration, with the defaults for the parts not given.
    public init(
        workers: Int = 160, maxBodyBytes: Int = 64 * 1024, bodyTimeoutSeconds: Int = 30, dispatch: Dispatch = .tasks
    ) {
        self.workers = workers
        self.maxBodyBytes = maxBodyBytes
        self.bodyTimeoutSeconds = bodyTimeoutSeconds
        self.dispatch = dispatch
    }

    /// The values `workers` may take.
    public static let workersRange = 1...1024
    /// The values `maxBodyBytes` may take: 1 KiB to 16 MiB.
    public static let maxBodyBytesRange = 1024...(16 * 1024 * 1024)
    /// The values `bodyTimeoutSeconds` may take.
    public static let bodyTimeoutSecondsRange = 1...600
}
