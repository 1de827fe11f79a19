import Billing
import Dispatch
import FastCGI
import Foundation
import HTTPResponder
import HTTPTypes
import JWTKit
import Logging
import Synchronization

/// Which part of the program the fuzzer feeds, from `BILLING_FUZZ_TARGET`: `json`, `body`, `cgi`, `jwt` or `stripe`.
let target = ProcessInfo.processInfo.environment["BILLING_FUZZ_TARGET"] ?? "cgi"

/// libFuzzer's driver, linked in by `-sanitize=fuzzer`.
@_extern(c, "LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// The program's entry point. SwiftPM links an executable target's `main` to `billing_fuzz_main`, which
/// hides libFuzzer's own `main`, so this hands control to libFuzzer's driver explicitly.
@_cdecl("billing_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments, fuzzOne)
}

/// The libFuzzer entry point: one input, any bytes; a crash, a hang or a failed check is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    switch target {
    case "json": FuzzChecks.json(bytes)
    case "body": FuzzChecks.body(bytes)
    case "jwt": FuzzChecks.jwt(bytes)
    case "stripe": FuzzChecks.stripe(bytes)
    default: FuzzChecks.cgi(bytes)
    }
    return 0
}

/// The checks behind each target.
enum FuzzChecks {
    /// One answer from Stripe, as the transport reads it: two bytes of status (big-endian), header lines
    /// (`name: value`, LF-ended) up to an empty line, then the body. Whatever it holds, the mapping never
    /// crashes, a session's URL is one the browser may be sent to, and a 503's `Retry-After` is 1...60 s.
    static func stripe(_ bytes: [UInt8]) {
        guard bytes.count >= 2 else { return }
        let status = Int(bytes[0]) << 8 | Int(bytes[1])
        var headers: [String: String] = [:]
        var rest = bytes[2...]
        while let newline = rest.firstIndex(of: UInt8(ascii: "\n")) {
            let line = String(decoding: rest[rest.startIndex..<newline], as: UTF8.self)
            rest = rest[(newline + 1)...]
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        let exchange = StripeExchange(status: status, headers: headers, body: Data(rest))
        let policy = RetryPolicy(maxRetries: 2)
        if policy.shouldRetry(exchange.outcome, retriesSoFar: 0) {
            let wait = policy.delay(beforeRetry: 1, jitter: 0.5, after: exchange.outcome)
            guard wait.isFinite, wait >= RetryPolicy.initialDelay, wait <= RetryPolicy.maxRetryAfter else {
                fatalError("a retry wait of \(wait) s")
            }
        }
        do throws(CheckoutError) {
            let session = try StripeResultMapping.result(
                of: exchange, checkoutHosts: ["checkout.stripe.com"], redact: { $0 })
            guard HostedPageURL.violation(in: session.url, hosts: ["checkout.stripe.com"]) == nil,
                session.url.lowercased().hasPrefix("https://checkout.stripe.com")
            else { fatalError("passed on a session url \(session.url)") }
        } catch {
            let response = error.response
            if response.head.status.code == 503 {
                guard let seconds = response.head.headerFields[.retryAfter].flatMap({ Int($0) }),
                    (1...60).contains(seconds)
                else { fatalError("a 503 with Retry-After \(response.head.headerFields[.retryAfter] ?? "none")") }
            }
            guard [502, 503].contains(response.head.status.code) else {
                fatalError("Stripe's answer mapped to \(response.head.status.code)")
            }
        }
    }

    /// The Python-compatible parser: never crashes, and what it parses serializes to JSON it parses again.
    static func json(_ bytes: [UInt8]) {
        guard let value = try? PythonJSON.parse(bytes) else { return }
        let again = value.serializedBytes()
        guard (try? PythonJSON.parse(again)) != nil else {
            fatalError("serialized output does not parse: \(String(decoding: again, as: UTF8.self))")
        }
    }

    /// A POST body through the whole application: always a contract status, always a JSON body.
    static func body(_ bytes: [UInt8]) {
        let head = HTTPRequest(
            method: .post, scheme: "http", authority: "localhost", path: "/api/v1/billing/checkout",
            headerFields: [.authorization: "Bearer \(Fixture.token)", .contentType: "application/json"])
        check(Fixture.respond(Request(head: head, body: .bytes(bytes))))
    }

    /// A CGI environment (`NAME=VALUE` lines; a blank line, then the body) through the transport's reader and the
    /// application, as a web server would hand it over.
    static func cgi(_ bytes: [UInt8]) {
        let split = bytes.firstRange(of: [10, 10])
        let envBytes = split.map { bytes[..<$0.lowerBound] } ?? bytes[...]
        let body = split.map { Array(bytes[$0.upperBound...]) } ?? []
        var params: [String: String] = [:]
        for line in envBytes.split(separator: 10) {
            guard let equals = line.firstIndex(of: UInt8(ascii: "=")) else { continue }
            params[String(decoding: line[..<equals], as: UTF8.self)] = String(
                decoding: line[(equals + 1)...], as: UTF8.self)
        }
        params["HTTP_AUTHORIZATION"] = params["HTTP_AUTHORIZATION"] ?? "Bearer \(Fixture.token)"
        guard let head = try? CGIEnvironment.requestHead(from: params) else { return }
        let incoming: Request.Body
        switch CGIEnvironment.declaredLength(params["CONTENT_LENGTH"], limit: 65536) {
        case .tooLarge: incoming = .tooLarge
        case .malformed: incoming = .malformed("fuzz")
        case .absent, .exactly: incoming = .bytes(body)
        }
        let response = Fixture.respond(Request(head: head, body: incoming))
        check(response)
        let encoded = ResponseEncoder.encode(response)
        guard let end = encoded.firstRange(of: [13, 10, 13, 10]) else { fatalError("no end of headers") }
        for line in encoded[..<end.lowerBound].split(separator: 10)
        where line.dropLast().contains(13) || line.contains(0) {
            fatalError("CR or NUL inside a header line: \(String(decoding: line, as: UTF8.self))")
        }
    }

    /// Any bytes as a bearer token: verification answers or refuses, never crashes.
    static func jwt(_ bytes: [UInt8]) {
        let token = String(decoding: bytes, as: UTF8.self)
        let head = HTTPRequest(
            method: .post, scheme: "http", authority: "localhost", path: "/api/v1/billing/checkout",
            headerFields: [.authorization: "Bearer \(token)", .contentType: "application/json"])
        let response = Fixture.respond(Request(head: head, body: .bytes(Array("{}".utf8))))
        check(response)
        guard [200, 401].contains(response.head.status.code) else {
            fatalError("a token got \(response.head.status.code)")
        }
    }

    /// Every answer has a contract status and a body that is a JSON object with `detail` or `url`.
    static func check(_ response: Response) {
        let allowed: Set<Int> = [200, 204, 400, 401, 403, 404, 405, 413, 422, 500, 502, 503, 504]
        guard allowed.contains(response.head.status.code) else { fatalError("status \(response.head.status.code)") }
        if response.head.status.code == 204 { return }
        guard case .object(let object)? = try? PythonJSON.parse(response.body),
            object["detail"] != nil || object["url"] != nil
        else { fatalError("body is not the contract's JSON: \(String(decoding: response.body, as: UTF8.self))") }
    }
}

/// The application with fixed settings and a Stripe that always succeeds, built once.
enum Fixture {
    static let secret = "fuzz-secret-fuzz-secret-fuzz-secret"
    static let token = makeToken()
    static let application = makeApplication()

    static func respond(_ request: Request) -> Response {
        blocking { await application.respond(to: request) }
    }

    private static func makeApplication() -> CheckoutApplication {
        let settings = Settings(
            stripe: StripeSettings(
                secretKey: Secret("sk_test_fuzz"), defaultPriceID: "price_fuzz",
                planPrices: PlanPrices(["pro": "price_pro"])),
            jwt: JWTSettings(secret: Secret(secret)),
            frontendURL: "http://localhost:3000",
            allowedRedirectOrigins: [Origin(scheme: "http", host: "localhost", port: 3000)],
            corsOrigins: ["http://localhost:3000"]
        )
        let verifier = blocking { try! await TokenVerifier.make(settings: settings.jwt) }
        var logger = Logger(label: "fuzz")
        logger.logLevel = .critical
        return CheckoutApplication(settings: settings, verifier: verifier, stripe: AlwaysSucceeds(), logger: logger)
    }

    private struct Claims: JWTPayload {
        var sub: String
        var email: String
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    /// An HS256 token for `user_fuzz`, signed with jwt-kit.
    private static func makeToken() -> String {
        blocking {
            let keys = JWTKeyCollection()
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
            return try! await keys.sign(Claims(sub: "user_fuzz", email: "f@example.com"))
        }
    }

    static func blocking<T: Sendable>(_ operation: @escaping @Sendable () async -> T) -> T {
        let result = Mutex<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let value = await operation()
            result.withLock { $0 = value }
            done.signal()
        }
        done.wait()
        return result.withLock { $0! }
    }
}

/// A Stripe that creates a session for any parameters.
struct AlwaysSucceeds: StripeClient {
    func createCheckoutSession(_ parameters: CheckoutSessionParameters, idempotencyKey: String)
        async throws(CheckoutError) -> CheckoutSession
    {
        CheckoutSession(id: "cs_fuzz", url: "https://checkout.stripe.com/c/pay/cs_fuzz")
    }

    func expireCheckoutSession(id: String) async throws(CheckoutError) -> StripeSessionState {
        StripeSessionState(id: id, status: "expired")
    }

    func subscription(id: String) async throws(CheckoutError) -> StripeSubscription {
        StripeSubscription(
            id: id, customerID: "cus_fuzz", status: "active", priceID: "price_fuzz", currentPeriodEnd: nil,
            cancelAtPeriodEnd: false, created: nil, userID: nil)
    }

    func createPortalSession(customerID: String, returnURL: String) async throws(CheckoutError) -> String {
        "https://billing.stripe.com/p/session/fuzz"
    }
}
