import Billing
import Dispatch
import FastCGI
import Foundation
import HTTPResponder
import HTTPTypes
import JWTKit
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

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

    /// The Python-compatible parser: never crashes, and what it parses round-trips: the serialized value parses
    /// back to the same value (NaN and the infinities, which the serializer writes as `null`, as `null`), and
    /// serializing that again gives the same bytes.
    static func json(_ bytes: [UInt8]) {
        guard let value = try? PythonJSON.parse(bytes) else { return }
        let again = value.serializedBytes()
        guard let reparsed = try? PythonJSON.parse(again) else {
            fatalError("serialized output does not parse: \(String(decoding: again, as: UTF8.self))")
        }
        guard reparsed == finite(value) else {
            fatalError(
                "round trip changed the value: \(String(decoding: bytes, as: UTF8.self)) -> "
                    + String(decoding: again, as: UTF8.self))
        }
        guard reparsed.serializedBytes() == again else {
            fatalError("serializing twice differs: \(String(decoding: again, as: UTF8.self))")
        }
    }

    /// `value` with every non-finite double as `null`, as the serializer writes it (docs/behaviour.md, JSON echo).
    static func finite(_ value: JSONValue) -> JSONValue {
        switch value {
        case .double(let number) where !number.isFinite: return .null
        case .array(let items): return .array(items.map(finite))
        case .object(let object):
            var copy = JSONObject()
            for (key, item) in zip(object.keys, object.values) { copy[key] = finite(item) }
            return .object(copy)
        default: return value
        }
    }

    /// A POST body through the whole application: always a contract status, always a JSON body; and a 200 only
    /// when the URLs Stripe was sent are on the allowed origin (`http://localhost:3000`, checked here on its own
    /// terms, not only by the policy under test) and are the body's own, or the defaults.
    static func body(_ bytes: [UInt8]) {
        let head = HTTPRequest(
            method: .post, scheme: "http", authority: "localhost", path: "/api/v1/billing/checkout",
            headerFields: [.authorization: "Bearer \(Fixture.token)", .contentType: "application/json"])
        Fixture.stripe.sent.withLock { $0 = nil }
        let response = Fixture.respond(Request(head: head, body: .bytes(bytes)))
        check(response)
        let sent = Fixture.stripe.sent.withLock { $0 }
        guard response.head.status.code == 200 else {
            if let sent { fatalError("a \(response.head.status.code) after Stripe was called with \(sent)") }
            return
        }
        guard let sent else { fatalError("a 200 without a Stripe call") }
        guard case .object(let fields)? = try? PythonJSON.parse(bytes) else { fatalError("a 200 for a non-object") }
        for (name, url, fallback) in [
            ("success_url", sent.successURL, Fixture.defaultSuccessURL), ("cancel_url", sent.cancelURL, Fixture.defaultCancelURL),
        ] {
            let expected: String
            switch fields[name] {
            case nil: expected = fallback
            case .string(let given)?: expected = given
            case let other?: fatalError("a 200 with \(name) = \(other)")
            }
            guard url.utf8.elementsEqual(expected.utf8) else { fatalError("\(name) \(expected) was sent as \(url)") }
            guard Fixture.redirectPolicy.violation(in: url) == nil, isOnAllowedOrigin(url) else {
                fatalError("a 200 that sent \(name) \(url.debugDescription) to Stripe")
            }
        }
    }

    /// The one allowed origin, `http://localhost:3000`, followed by a path, query or fragment, or nothing; without
    /// control characters, whitespace or `\\` (docs/behaviour.md, "Redirect URLs"), at most 2048 characters.
    static func isOnAllowedOrigin(_ url: String) -> Bool {
        let origin = "http://localhost:3000"
        let scalars = Array(url.unicodeScalars)
        guard scalars.count <= 2048, scalars.count >= origin.unicodeScalars.count,
            String(String.UnicodeScalarView(scalars.prefix(origin.unicodeScalars.count))).lowercased() == origin
        else { return false }
        if scalars.count > origin.unicodeScalars.count, !"/?#".unicodeScalars.contains(scalars[origin.unicodeScalars.count]) {
            return false
        }
        return !scalars.contains {
            $0.value < 0x21 || $0.value == 0x7F || (0x80...0xA0).contains($0.value) || $0.properties.isWhitespace
                || $0 == "\\"
        }
    }

    /// A CGI environment (`NAME=VALUE` lines; a blank line, then stdin) through `CGIRunner` itself, stdin and stdout
    /// on pipes, as a web server runs the program: every method, the body read by `CONTENT_LENGTH` (short, over the
    /// cap, malformed), to the end of input when chunked, or not at all. Its output must be byte for byte what
    /// the application answers for the request the rules in docs/behaviour.md ("Requests") describe, with the
    /// body those rules say was read; an invalid method the transport's own 400.
    static func cgi(_ bytes: [UInt8]) {
        let split = bytes.firstRange(of: [10, 10])
        let envBytes = split.map { bytes[..<$0.lowerBound] } ?? bytes[...]
        let stdin = split.map { Array(bytes[$0.upperBound...]) } ?? []
        var params: [String: String] = [:]
        for line in envBytes.split(separator: 10) {
            guard let equals = line.firstIndex(of: UInt8(ascii: "=")) else { continue }
            params[String(decoding: line[..<equals], as: UTF8.self)] = String(
                decoding: line[(equals + 1)...], as: UTF8.self)
        }
        params["HTTP_AUTHORIZATION"] = params["HTTP_AUTHORIZATION"] ?? "Bearer \(Fixture.token)"
        let output = CGIPipes.run(environment: params, stdin: stdin)
        let expected: [UInt8]
        if let head = try? CGIEnvironment.requestHead(from: params) {
            let limit = Fixture.application.bodyLimit(for: head, standard: Fixture.cgiBodyLimit)
            let body = expectedBody(params: params, stdin: stdin, limit: limit)
            expected = ResponseEncoder.encode(
                Fixture.respond(Request(head: head, body: body, remoteAddress: params["REMOTE_ADDR"])))
        } else {
            expected = ResponseEncoder.encode(
                Response(
                    head: HTTPResponse(
                        status: .badRequest, headerFields: [.contentType: "application/json", .cacheControl: "no-store"]),
                    body: Array(#"{"detail":"Bad Request"}"#.utf8)))
        }
        guard output == expected else {
            fatalError(
                "CGI answered \(String(decoding: output, as: UTF8.self).debugDescription), expected "
                    + String(decoding: expected, as: UTF8.self).debugDescription)
        }
        guard let end = output.firstRange(of: [13, 10, 13, 10]) else { fatalError("no end of headers") }
        for line in output[..<end.lowerBound].split(separator: 10)
        where line.dropLast().contains(13) || line.contains(0) {
            fatalError("CR or NUL inside a header line: \(String(decoding: line, as: UTF8.self))")
        }
    }

    /// The body the transport must hand the application, by the documented rules, written apart from the reader:
    /// exactly `CONTENT_LENGTH` bytes (fewer is unreadable, more are ignored), a length over `limit` too large, one
    /// that is not all digits malformed; without one, no body, unless chunked: then stdin to its end, within `limit`.
    static func expectedBody(params: [String: String], stdin: [UInt8], limit: Int) -> Request.Body {
        let declared = params["CONTENT_LENGTH"] ?? ""
        if declared.isEmpty {
            guard params["HTTP_TRANSFER_ENCODING"]?.lowercased().contains("chunked") == true else { return .bytes([]) }
            return stdin.count > limit ? .tooLarge : .bytes(stdin)
        }
        guard declared.utf8.allSatisfy({ (48...57).contains($0) }) else { return .malformed("not a number") }
        guard let length = Int(declared), length <= limit else { return .tooLarge }
        return stdin.count >= length ? .bytes(Array(stdin.prefix(length))) : .malformed("short")
    }

    /// Tokens through the verifier, which must accept exactly those the rules in docs/behaviour.md ("Tokens") accept.
    /// The first byte chooses: 0, the rest is the token as it comes (any bytes, up to past the 16 KiB limit); 1 and 2,
    /// the rest is a header and a payload (JSON, split at the first LF) signed here with HS256 (verifier with issuer,
    /// audience and a 30 s leeway) or ES256 (no issuer, no audience, no leeway), so that the checks after the
    /// signature are reached; 3, signed with HS256 and given to the ES256 verifier, which must refuse it. The clock
    /// is fixed (`Fixture.now`).
    static func jwt(_ bytes: [UInt8]) {
        guard let mode = bytes.first else { return }
        let rest = Array(bytes.dropFirst())
        let token: String
        let verifier: TokenVerifier
        let signed: Bool
        switch mode & 3 {
        case 0:
            (token, verifier, signed) = (String(decoding: rest, as: UTF8.self), Fixture.hsVerifier, false)
        case 1:
            (token, verifier, signed) = (Fixture.sign(rest, with: Fixture.hsSigner), Fixture.hsVerifier, true)
        case 2:
            (token, verifier, signed) = (Fixture.sign(rest, with: Fixture.esSigner), Fixture.esVerifier, true)
        default:
            (token, verifier, signed) = (Fixture.sign(rest, with: Fixture.hsSigner), Fixture.esVerifier, false)
        }
        let issuerAndAudience = mode & 3 != 2 && mode & 3 != 3
        let result = Fixture.blocking { () async -> Result<UserIdentity, CheckoutError> in
            do throws(CheckoutError) {
                return .success(try await verifier.identity(for: token))
            } catch {
                return .failure(error)
            }
        }
        let expected = TokenRules.accepts(
            token, algorithm: mode & 3 == 2 ? "ES256" : "HS256", issuerAndAudience: issuerAndAudience)
        switch result {
        case .success(let identity):
            if mode & 3 == 3 { fatalError("an HS256 token passed the ES256 verifier: \(token)") }
            guard let subject = expected.subject else { fatalError("accepted against the rules: \(token)") }
            guard identity.userID.utf8.elementsEqual(subject.utf8) else {
                fatalError("sub \(subject) read as \(identity.userID)")
            }
        case .failure(let error):
            guard error.response.head.status.code == 401 else {
                fatalError("a token got \(error.response.head.status.code)")
            }
            // Only a token signed here has a signature the rules can vouch for.
            if signed, mode & 3 != 3, let subject = expected.subject {
                fatalError("refused a token the rules accept (sub \(subject)): \(token)")
            }
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

/// The application with fixed settings and a Stripe that always succeeds, built once; the token verifiers and
/// their signers for the `jwt` target.
enum Fixture {
    static let secret = "fuzz-secret-fuzz-secret-fuzz-secret"
    static let token = makeToken()
    static let stripe = AlwaysSucceeds()
    static let defaultSuccessURL = "http://localhost:3000/dashboard?success=true"
    static let defaultCancelURL = "http://localhost:3000/dashboard?canceled=true"
    static let redirectPolicy = RedirectURLPolicy(allowedOrigins: [Origin(scheme: "http", host: "localhost", port: 3000)])
    /// A small body cap for the `cgi` target, so that bodies over it are within the fuzzer's input length.
    static let cgiBodyLimit = 1024
    static let cgiRunner = CGIRunner(configuration: TransportConfiguration(maxBodyBytes: cgiBodyLimit))
    static let application = makeApplication()

    /// The verifiers' clock.
    static let now: Double = 1_700_000_000
    static let issuer = "https://issuer.example"
    static let audience = "billing"
    static let hsLeeway: Double = 30
    static let hsVerifier = blocking {
        try! await TokenVerifier.make(
            settings: JWTSettings(
                secret: Secret(secret), issuer: issuer, audience: audience, leewaySeconds: hsLeeway),
            now: { Date(timeIntervalSince1970: now) })
    }
    static let esKey = ES256PrivateKey()
    static let esVerifier = blocking {
        try! await TokenVerifier.make(
            settings: JWTSettings(publicKeysPEM: [esKey.publicKey.pemRepresentation]),
            now: { Date(timeIntervalSince1970: now) })
    }
    static let hsSigner: any JWTAlgorithm = blocking {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return try! await keys.getKey(alg: "HS256")
    }
    static let esSigner: any JWTAlgorithm = blocking {
        let keys = JWTKeyCollection()
        await keys.add(ecdsa: esKey)
        return try! await keys.getKey(alg: "ES256")
    }

    /// `header` LF `payload` (or all of it as the payload, under `{"alg":"HS256"}`) as a compact token signed by
    /// `signer`.
    static func sign(_ bytes: [UInt8], with signer: any JWTAlgorithm) -> String {
        let header: ArraySlice<UInt8>
        let payload: ArraySlice<UInt8>
        if let newline = bytes.firstIndex(of: 10) {
            (header, payload) = (bytes[..<newline], bytes[(newline + 1)...])
        } else {
            (header, payload) = (Array(#"{"alg":"HS256"}"#.utf8)[...], bytes[...])
        }
        let input = base64URL(header) + "." + base64URL(payload)
        let signature = try! signer.sign(Array(input.utf8))
        return input + "." + base64URL(signature[...])
    }

    static func base64URL(_ bytes: ArraySlice<UInt8>) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

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
        return CheckoutApplication(settings: settings, verifier: verifier, stripe: stripe, logger: logger)
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

/// The token rules of docs/behaviour.md ("Tokens"), written apart from the verifier, over the decoded header and
/// payload; the signature is not theirs to judge.
enum TokenRules {
    /// What the rules make of a token: its subject when they accept it, nil when they refuse it.
    struct Verdict { var subject: String? }

    /// Whether a token whose signature verifies is accepted, by a verifier for `algorithm` that (when
    /// `issuerAndAudience`) requires `Fixture.issuer` and `Fixture.audience` and allows `Fixture.hsLeeway`.
    static func accepts(_ token: String, algorithm: String, issuerAndAudience: Bool) -> Verdict {
        let refused = Verdict(subject: nil)
        guard token.utf8.count <= 16 * 1024 else { return refused }
        let parts = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = decode(parts[0]), let payloadBytes = decode(parts[1]),
            decode(parts[2]) != nil,
            case .object(let header)? = try? PythonJSON.parse(headerBytes),
            case .object(let claims)? = try? PythonJSON.parse(payloadBytes)
        else { return refused }
        guard header["crit"] == nil, case .string(let alg)? = header["alg"], alg == algorithm else { return refused }
        let leeway = issuerAndAudience ? Fixture.hsLeeway : 0
        let now = Fixture.now
        let times: [(String, (Double) -> Bool)] = [
            ("exp", { now < $0 + leeway }), ("nbf", { $0 <= now + leeway }), ("iat", { $0 <= now + leeway }),
        ]
        for (name, holds) in times {
            guard let value = claims[name] else { continue }
            guard let time = number(value), holds(time) else { return refused }
        }
        if issuerAndAudience {
            guard case .string(let issuer)? = claims["iss"], issuer.utf8.elementsEqual(Fixture.issuer.utf8) else {
                return refused
            }
            switch claims["aud"] {
            case .string(let audience)? where audience.utf8.elementsEqual(Fixture.audience.utf8): break
            case .array(let items)?:
                let strings = items.compactMap { item -> String? in
                    if case .string(let text) = item { return text }
                    return nil
                }
                guard strings.count == items.count, strings.contains(where: { $0.utf8.elementsEqual(Fixture.audience.utf8) })
                else { return refused }
            default: return refused
            }
        } else {
            switch claims["aud"] {
            case nil: break
            case .string(let audience)? where audience.isEmpty: break
            case .array(let items)? where items.isEmpty: break
            default: return refused
            }
        }
        guard case .string(let subject)? = claims["sub"], !subject.isEmpty else { return refused }
        return Verdict(subject: subject)
    }

    /// A JSON number within a double's range; never a bool.
    private static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .integer(let digits): return Double(digits).flatMap { $0.isFinite ? $0 : nil }
        case .double(let number): return number.isFinite ? number : nil
        default: return nil
        }
    }

    /// Base64url without padding, canonical (RFC 7515 §2, RFC 4648 §3.5), through Foundation.
    private static func decode(_ part: Substring.UTF8View) -> [UInt8]? {
        let text = String(decoding: part, as: UTF8.self)
        guard text.utf8.allSatisfy({ Self.alphabet.contains($0) }), text.utf8.count % 4 != 1 else { return nil }
        let padded = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            + String(repeating: "=", count: (4 - text.utf8.count % 4) % 4)
        guard let data = Data(base64Encoded: padded) else { return nil }
        // Canonical: encoding it again gives the same text (no stray bits in the last character).
        guard Fixture.base64URL(Array(data)[...]) == text else { return nil }
        return Array(data)
    }

    private static let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
}

/// Runs `CGIRunner` on pipes put in the place of stdin and stdout, as a web server runs the program.
enum CGIPipes {
    /// `F_SETPIPE_SZ` (Linux), which Glibc's module does not export: pipes big enough for any input and answer.
    private static let setPipeSize: Int32 = 1031

    /// What the runner wrote to stdout for `environment`, with `stdin` as its whole input.
    static func run(environment: [String: String], stdin: [UInt8]) -> [UInt8] {
        var input: [Int32] = [0, 0]
        var output: [Int32] = [0, 0]
        guard pipe(&input) == 0, pipe(&output) == 0 else { fatalError("pipe: errno \(errno)") }
        _ = fcntl(input[1], setPipeSize, 1 << 20)
        _ = fcntl(output[1], setPipeSize, 1 << 20)
        var written = 0
        while written < stdin.count {
            let count = stdin[written...].withUnsafeBytes { write(input[1], $0.baseAddress, $0.count) }
            guard count > 0 else { fatalError("writing stdin: errno \(errno)") }
            written += count
        }
        close(input[1])
        let savedIn = dup(0)
        let savedOut = dup(1)
        dup2(input[0], 0)
        dup2(output[1], 1)
        close(input[0])
        close(output[1])
        Fixture.cgiRunner.run(environment: environment, responder: Fixture.application)
        dup2(savedIn, 0)
        dup2(savedOut, 1)  // the pipe's last writer goes: the read below ends
        close(savedIn)
        close(savedOut)
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(output[0], $0.baseAddress, $0.count) }
            if count <= 0 { break }
            answer += buffer[..<count]
        }
        close(output[0])
        return answer
    }
}

/// A Stripe that creates a session for any parameters, and keeps the last ones it was sent.
final class AlwaysSucceeds: StripeClient {
    /// The parameters of the last checkout call.
    let sent = Mutex<CheckoutSessionParameters?>(nil)

    func createCheckoutSession(_ parameters: CheckoutSessionParameters, idempotencyKey: String)
        async throws(CheckoutError) -> CheckoutSession
    {
        sent.withLock { $0 = parameters }
        return CheckoutSession(id: "cs_fuzz", url: "https://checkout.stripe.com/c/pay/cs_fuzz")
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
