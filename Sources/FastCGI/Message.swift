import HTTPTypes

/// What a request's body turned out to be once the transport has read it.
public enum RequestBody: Sendable, Equatable {
    /// The whole body, no larger than the configured limit.
    case bytes([UInt8])
    /// The body is larger than the configured limit; it was not kept.
    case tooLarge
    /// The body could not be read as declared (a malformed `CONTENT_LENGTH`, or fewer bytes than it announced).
    case malformed(String)
}

/// One request as a web server handed it over: the head as an `HTTPRequest`, and the body.
public struct FastCGIRequest: Sendable {
    /// Method, path (with its query), and the client's headers.
    public var head: HTTPRequest
    /// The body, or why it is missing.
    public var body: RequestBody
    /// The client's address as the web server reported it (`REMOTE_ADDR`), for the log.
    public var remoteAddress: String?

    /// Creates a request from its parts.
    public init(head: HTTPRequest, body: RequestBody, remoteAddress: String? = nil) {
        self.head = head
        self.body = body
        self.remoteAddress = remoteAddress
    }
}

/// One response to write back: status and headers as an `HTTPResponse`, and the body bytes.
public struct FastCGIResponse: Sendable {
    /// Status and headers.
    public var head: HTTPResponse
    /// The body, written as is.
    public var body: [UInt8]

    /// Creates a response from its parts.
    public init(head: HTTPResponse, body: [UInt8]) {
        self.head = head
        self.body = body
    }
}

/// The application the transport serves: one request value in, one response value out.
public typealias FastCGIHandler = @Sendable (FastCGIRequest) async -> FastCGIResponse
