import HTTPTypes

/// A request as the application sees it: the head, and what became of the body.
public struct IncomingRequest: Sendable {
    /// What the transport could make of the body.
    public enum Body: Sendable, Equatable {
        /// The whole body, within the size limit.
        case bytes([UInt8])
        /// Larger than the size limit; not kept.
        case tooLarge
        /// Not readable as announced (a bad `CONTENT_LENGTH`, or a short body).
        case malformed(String)
    }

    /// Method, path with query, and headers.
    public var head: HTTPRequest
    /// The body.
    public var body: Body
    /// The client's address, for the log.
    public var remoteAddress: String?

    /// Creates a request from its parts.
    public init(head: HTTPRequest, body: Body, remoteAddress: String? = nil) {
        self.head = head
        self.body = body
        self.remoteAddress = remoteAddress
    }

    /// The request path without its query, percent-decoded, as the router compares it.
    var routePath: String {
        let raw = head.path ?? "/"
        let path =
            raw.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? raw
        return path.removingPercentEncodingIfValid()
    }
}

/// A response as the application produces it: status and headers, and the body bytes.
public struct OutgoingResponse: Sendable {
    /// Status and headers.
    public var head: HTTPResponse
    /// The body.
    public var body: [UInt8]

    /// Creates a response from its parts.
    public init(head: HTTPResponse, body: [UInt8]) {
        self.head = head
        self.body = body
    }

    /// A JSON response with `Cache-Control: no-store`: every answer of this endpoint is personal.
    static func json(_ status: HTTPResponse.Status, _ value: JSONValue, headers: HTTPFields = [:]) -> OutgoingResponse {
        var fields: HTTPFields = [.contentType: "application/json", .cacheControl: "no-store"]
        fields.append(contentsOf: headers)
        return OutgoingResponse(head: HTTPResponse(status: status, headerFields: fields), body: value.serializedBytes())
    }
}

extension String {
    /// Percent-decodes the string; leaves it as it is when an escape is malformed or decodes to invalid UTF-8.
    func removingPercentEncodingIfValid() -> String {
        guard utf8.contains(UInt8(ascii: "%")) else { return self }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(Self.hexValue), let low = iterator.next().flatMap(Self.hexValue)
            else { return self }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self) ?? self
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
