import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One FastCGI request over a connection the test opens itself, so that it knows when the connection is in
/// the server's backlog (`connect` has returned) and whether the server answered it or closed it unanswered.
final class FastCGIConnection: @unchecked Sendable {
    // @unchecked: the descriptor is used by one caller at a time (send, then response) and closed in deinit.
    private let descriptor: Int32

    /// `connect()` failed; `code` is its errno (ECONNREFUSED when nothing listens or the socket was shut).
    struct ConnectFailed: Error, Equatable {
        let code: Int32
    }

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)
    }

    static func connect(unixPath path: String) throws -> FastCGIConnection {
        try connect(family: AF_UNIX, to: unixAddress(path))
    }

    static func connect(port: Int) throws -> FastCGIConnection {
        try connect(family: AF_INET, to: loopback(port: port))
    }

    /// 127.0.0.1:`port` (0: any free port, for bind).
    static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return address
    }

    /// A Unix listening socket bound to `path`, as lighttpd and mod_fcgid create one for each process.
    static func listen(unixPath path: String) throws -> Int32 {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = try unixAddress(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
            }
        }
        guard bound, Glibc.listen(descriptor, 64) == 0 else {
            let code = errno
            close(descriptor)
            throw SupportError("cannot listen on \(path): errno \(code)")
        }
        return descriptor
    }

    /// Sends a whole request: BEGIN_REQUEST (responder), the params, an empty PARAMS, the body, an empty STDIN.
    /// Without `endOfBody` the empty STDIN is left out, as when a web server passes a body on as slowly as its
    /// client sends it.
    func send(params: [String: String], body: Data, endOfBody: Bool = true) throws {
        var bytes: [UInt8] = []
        Self.record(type: 1, content: [0, 1, 0, 0, 0, 0, 0, 0], into: &bytes)
        var pairs: [UInt8] = []
        for (name, value) in params {
            Self.appendLength(name.utf8.count, to: &pairs)
            Self.appendLength(value.utf8.count, to: &pairs)
            pairs += Array(name.utf8) + Array(value.utf8)
        }
        Self.record(type: 4, content: pairs, into: &bytes)
        Self.record(type: 4, content: [], into: &bytes)
        Self.record(type: 5, content: [UInt8](body), into: &bytes)
        if endOfBody { Self.record(type: 5, content: [], into: &bytes) }
        try write(bytes)
    }

    /// Sends the rest of a body that `send(params:body:endOfBody: false)` began, and the empty STDIN after it.
    func finishBody(_ rest: Data) throws {
        var bytes: [UInt8] = []
        Self.record(type: 5, content: [UInt8](rest), into: &bytes)
        Self.record(type: 5, content: [], into: &bytes)
        try write(bytes)
    }

    private func write(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { throw SupportError("write failed: errno \(errno)") }
            sent += count
        }
    }

    /// Reads records until END_REQUEST and parses what came on STDOUT; throws if the server closes the
    /// connection before END_REQUEST (a request it dropped).
    func response(timeout: Int32 = 20) async throws -> CGIResponse {
        let descriptor = descriptor
        let output = try await Blocking.run { try Self.readStdout(descriptor, timeout: timeout) }
        return try CGIResponse.parse(output)
    }

    private static func readStdout(_ descriptor: Int32, timeout: Int32) throws -> Data {
        var stdout = Data()
        while true {
            let header = try read(descriptor, count: 8, timeout: timeout)
            let type = header[1]
            let length = Int(header[4]) << 8 | Int(header[5])
            let content = try read(descriptor, count: length + Int(header[6]), timeout: timeout)
            if type == 6 { stdout.append(contentsOf: content.prefix(length)) }
            if type == 3 {
                // As web servers do: libfcgi's close waits (up to 2 s) for this end to close.
                shutdown(descriptor, Int32(SHUT_WR))
                return stdout
            }
        }
    }

    private static func read(_ descriptor: Int32, count: Int, timeout: Int32) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, timeout * 1000) == 1 else { throw SupportError("no answer within \(timeout) s") }
            let got = buffer[filled...].withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            guard got > 0 else {
                throw SupportError("connection closed before the end of the request (\(got < 0 ? errno : 0))")
            }
            filled += got
        }
        return buffer
    }

    private static func record(type: UInt8, content: [UInt8], into bytes: inout [UInt8]) {
        bytes += [1, type, 0, 1, UInt8(content.count >> 8), UInt8(content.count & 0xFF), 0, 0]
        bytes += content
    }

    private static func appendLength(_ length: Int, to bytes: inout [UInt8]) {
        if length < 128 {
            bytes.append(UInt8(length))
        } else {
            bytes += [
                UInt8(length >> 24) | 0x80, UInt8((length >> 16) & 0xFF), UInt8((length >> 8) & 0xFF),
                UInt8(length & 0xFF),
            ]
        }
    }

    /// A blocking stream socket of `family` connected to `address` (a `sockaddr_un` or `sockaddr_in`).
    private static func connect<Address>(family: Int32, to address: Address) throws -> FastCGIConnection {
        let descriptor = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        var address = address
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<Address>.size)) == 0
            }
        }
        guard connected else {
            let code = errno
            close(descriptor)
            throw ConnectFailed(code: code)
        }
        return FastCGIConnection(descriptor: descriptor)
    }

    private static func unixAddress(_ path: String) throws -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw SupportError("socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
        }
        return address
    }
}
