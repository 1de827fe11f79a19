import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A running `stripe-stand-in` child process on a random loopback port.
///
/// `Process` is not `Sendable`; it is only touched to start it and to stop it, so the class is marked unchecked.
final class StandInProcess: @unchecked Sendable {
    /// The child process.
    let process: Process
    /// The base URL, e.g. `http://127.0.0.1:54321`.
    let baseURL: URL
    /// The exact line the stand-in printed on start.
    let listeningLine: String

    /// Starts the stand-in with `--port 0` plus extra environment, and waits for its `listening on` line.
    init(environment: [String: String] = [:]) async throws {
        let process = Process()
        process.executableURL = try Self.binaryURL()
        process.arguments = ["--port", "0", "--host", "127.0.0.1"]
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let line = await Self.readLine(from: output.fileHandleForReading)
        guard line.hasPrefix("listening on 127.0.0.1:"), let port = Int(line.split(separator: ":").last ?? "") else {
            process.terminate()
            throw StandInStartError(line: line)
        }
        self.process = process
        self.listeningLine = line
        self.baseURL = URL(string: "http://127.0.0.1:\(port)")!
    }

    /// Sends SIGTERM and waits for the process to exit.
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    /// Stops the process when the last reference goes away.
    deinit { stop() }

    /// Finds the built `stripe-stand-in` next to the test bundle, or via `STAND_IN_BINARY`.
    static func binaryURL() throws -> URL {
        if let explicit = ProcessInfo.processInfo.environment["STAND_IN_BINARY"] {
            return URL(fileURLWithPath: explicit)
        }
        var candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
            Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent(),
        ]
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            candidates.append(bundle.bundleURL.deletingLastPathComponent())
        }
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        candidates.append(packageRoot.appendingPathComponent(".build/debug"))
        for directory in candidates {
            let url = directory.appendingPathComponent("stripe-stand-in")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        throw StandInStartError(line: "stripe-stand-in binary not found near \(CommandLine.arguments[0])")
    }

    /// Reads one line from `handle` on a thread of its own, so that neither Swift's tasks nor dispatch's few
    /// global threads wait behind the read.
    static func readLine(from handle: FileHandle) async -> String {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var bytes = Data()
                while !bytes.contains(UInt8(ascii: "\n")) {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    bytes.append(chunk)
                }
                let text = String(decoding: bytes, as: UTF8.self)
                continuation.resume(returning: String(text.split(separator: "\n", omittingEmptySubsequences: false)[0]))
            }
        }
    }
}

/// Thrown when the stand-in does not print a usable `listening on` line.
struct StandInStartError: Error, CustomStringConvertible {
    /// What the process printed instead.
    let line: String
    /// Describes the failure.
    var description: String { "stand-in did not start: \(line)" }
}

/// A small URLSession client for the stand-in's checkout and control endpoints.
struct StandInClient: Sendable {
    /// Where the stand-in listens.
    let baseURL: URL
    /// The session used for all requests; allows many parallel connections.
    let session: URLSession

    /// Creates a client with its own session and the given per-request timeout.
    init(baseURL: URL, timeout: TimeInterval = 10) {
        self.baseURL = baseURL
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = 256
        configuration.timeoutIntervalForRequest = timeout
        self.session = URLSession(configuration: configuration)
    }

    /// Sends one request and returns the body and response.
    func send(
        _ method: String, _ path: String, body: String? = nil,
        headers: [String: String] = [:], timeout: TimeInterval? = nil
    ) async throws -> (Data, HTTPURLResponse) {
        var request = URLRequest(url: baseURL.appendingPathComponent(path))
        request.httpMethod = method
        if let timeout { request.timeoutInterval = timeout }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        request.httpBody = body.map { Data($0.utf8) }
        let (data, response) = try await session.data(for: request)
        return (data, response as! HTTPURLResponse)
    }

    /// Posts a form to `/v1/checkout/sessions` with the default key unless `authorization` overrides it.
    func createSession(
        _ form: String, idempotencyKey: String? = nil,
        authorization: String? = "Bearer sk_test_standin", timeout: TimeInterval? = nil
    ) async throws -> (Data, HTTPURLResponse) {
        var headers = ["Content-Type": "application/x-www-form-urlencoded"]
        if let authorization { headers["Authorization"] = authorization }
        if let idempotencyKey { headers["Idempotency-Key"] = idempotencyKey }
        return try await send("POST", "v1/checkout/sessions", body: form, headers: headers, timeout: timeout)
    }

    /// Queues faults given as JSON objects text, e.g. `{"kind":"drop"}`.
    func queueFaults(_ faults: String...) async throws {
        let (_, response) = try await send(
            "POST", "_standin/faults", body: "{\"faults\":[\(faults.joined(separator: ","))]}",
            headers: ["Content-Type": "application/json"])
        #expect(response.statusCode == 200)
    }

    /// Decodes a JSON object body.
    static func object(_ data: Data) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }
}

/// A valid checkout form using the default price.
let validForm =
    "mode=payment&line_items[0][price]=price_standin_basic&line_items[0][quantity]=1"
    + "&success_url=https%3A%2F%2Fexample.com%2Fok%3Fsession%3D%7BCHECKOUT_SESSION_ID%7D&cancel_url=https://example.com/cancel"
    + "&metadata[user_id]=user+42&subscription_data[metadata][user_id]=user+42&client_reference_id=ref_1"
