import HTTPTypes

/// One request as the transport hands it to the application: the head, what became of the body, and who sent it.
public struct Request: Sendable {
    /// What the transport could make of a request's body.
    public enum Body: Sendable, Equatable {
        /// The whole body, no larger than the transport's limit.
        case bytes([UInt8])
        /// The body is larger than the transport's limit; it was not kept.
        case tooLarge
        /// The body could not be read as declared (a malformed `CONTENT_LENGTH`, or fewer bytes than it announced).
        case malformed(String)
    }

    /// Method, path (with its query), and the client's headers.
    public var head: HTTPRequest
    /// The body, or why it is missing.
    public var body: Body
    /// The client's address as the web server reported it (`REMOTE_ADDR`).
    public var remoteAddress: String?

    /// Creates a request from its parts.
    public init(head: HTTPRequest, body: Body, remoteAddress: String? = nil) {
        self.head = head
        self.body = body
        self.remoteAddress = remoteAddress
    }
}
