import CCurlPollFix
import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// URLSession on Linux keeps a dispatch write source armed on a new connection once libcurl only wants to
/// read, and it fires without pause until the answer comes. CCurlPollFix turns libcurl's narrowed
/// registration into an unregister and a fresh registration; the transfers must come through intact.
@Suite struct CurlPollFixTests {
    @Test func theDefinitionFoundLibcurl() {
        #expect(billing_curl_poll_fix_active() == 1)
    }

    @Test func aNewConnectionsNarrowedRegistrationIsReplaced() async throws {
        let server = try SlowHTTPServer(delayMilliseconds: 300)
        defer { server.stop() }
        let session = Self.session()
        defer { session.invalidateAndCancel() }
        // Counted for this server's port alone: other suites in the process use URLSession at the same time.
        let port = Int32(server.port)
        let before = billing_curl_poll_narrowed_to_port(port)
        let (body, response) = try await session.data(for: server.request(path: "/first"))
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        #expect(String(decoding: body, as: UTF8.self) == "answer to POST /first (3 bytes)")
        // Connecting and sending want writability, awaiting the answer only readability.
        #expect(
            billing_curl_poll_narrowed_to_port(port) > before, "the write-then-read narrowing went through the fix")
    }

    @Test func concurrentTransfersOnNewAndReusedConnectionsAllComeThrough() async throws {
        let server = try SlowHTTPServer(delayMilliseconds: 150)
        defer { server.stop() }
        let session = Self.session()
        defer { session.invalidateAndCancel() }
        for round in 0..<3 {
            let bodies = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for index in 0..<16 {
                    group.addTask {
                        let (data, _) = try await session.data(for: server.request(path: "/r\(round)/\(index)"))
                        return (index, String(decoding: data, as: UTF8.self))
                    }
                }
                return try await group.reduce(into: [Int: String]()) { $0[$1.0] = $1.1 }
            }
            #expect(bodies.count == 16)
            for (index, body) in bodies {
                #expect(body == "answer to POST /r\(round)/\(index) (3 bytes)")
            }
        }
    }

    @Test func largeBodiesThatFillTheSocketComeThrough() async throws {
        // 4 MiB does not fit in the socket's buffers: libcurl waits for writability again and again while it
        // sends, then for readability only (one narrowing per transfer, each replaced by the fix).
        let server = try SlowHTTPServer(delayMilliseconds: 50)
        defer { server.stop() }
        let session = Self.session()
        defer { session.invalidateAndCancel() }
        let size = 4 << 20
        for index in 0..<3 {
            let (data, _) = try await session.data(for: server.request(path: "/big/\(index)", bodySize: size))
            #expect(String(decoding: data, as: UTF8.self) == "answer to POST /big/\(index) (\(size) bytes)")
        }
    }

    private static func session() -> URLSession {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.connectionProxyDictionary = [:]
        configuration.timeoutIntervalForRequest = 20
        return URLSession(configuration: configuration)
    }
}

/// An HTTP/1.1 server on a loopback port that answers every request after a delay, keeping connections
/// alive; one thread per connection.
private final class SlowHTTPServer: @unchecked Sendable {
    // @unchecked: `listener` is set in init and only closed by stop().
    let port: Int
    private let listener: Int32
    private let delayMilliseconds: Int

    init(delayMilliseconds: Int) throws {
        self.delayMilliseconds = delayMilliseconds
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 64) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            throw POSIXError(.EADDRNOTAVAIL)
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    func request(path: String, bodySize: Int? = nil) -> URLRequest {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = "POST"
        request.httpBody = bodySize.map { Data(repeating: UInt8(ascii: "x"), count: $0) } ?? Data("a=b".utf8)
        return request
    }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop() {
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 { return }
            Thread.detachNewThread { [self] in serve(connection) }
        }
    }

    private func serve(_ connection: Int32) {
        defer { close(connection) }
        var pending = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        func readMore() -> Bool {
            let count = read(connection, &buffer, buffer.count)
            if count <= 0 { return false }
            pending += buffer[0..<count]
            return true
        }
        while true {
            // One request: the head up to the blank line, then Content-Length bytes of body.
            var head: (line: String, bodyLength: Int, size: Int)? = Self.head(in: pending)
            while head == nil {
                guard readMore() else { return }
                head = Self.head(in: pending)
            }
            guard let (line, bodyLength, headSize) = head else { return }
            while pending.count < headSize + bodyLength {
                guard readMore() else { return }
            }
            pending.removeFirst(headSize + bodyLength)
            let parts = line.split(separator: " ")
            let answer = Array(
                "answer to \(parts.first ?? "") \(parts.dropFirst().first ?? "") (\(bodyLength) bytes)".utf8)
            usleep(useconds_t(delayMilliseconds * 1000))
            let reply = Array("HTTP/1.1 200 OK\r\nContent-Length: \(answer.count)\r\n\r\n".utf8) + answer
            if write(connection, reply, reply.count) != reply.count { return }
        }
    }

    /// The request line, the body's length and the head's size (blank line included), once the head is in
    /// `bytes`.
    private static func head(in bytes: [UInt8]) -> (line: String, bodyLength: Int, size: Int)? {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        // Heads here are a few hundred bytes; a body may follow in the same read.
        let window = bytes.prefix(8192)
        guard window.count >= separator.count,
            let blank = (0...(window.count - separator.count)).first(where: {
                window[$0..<($0 + separator.count)].elementsEqual(separator)
            })
        else { return nil }
        let lines = String(decoding: bytes[0..<blank], as: UTF8.self).components(separatedBy: "\r\n")
        let length =
            lines.dropFirst().compactMap { line -> Int? in
                let pair = line.split(separator: ":", maxSplits: 1)
                guard pair.count == 2, pair[0].lowercased() == "content-length" else { return nil }
                return Int(pair[1].trimmingCharacters(in: .whitespaces))
            }.first ?? 0
        return (lines[0], length, blank + separator.count)
    }
}
