import HTTPTypes

/// One response as the application produces it: status and headers, and the body bytes.
public struct Response: Sendable {
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
