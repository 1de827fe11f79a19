import Foundation
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// What one try of a Stripe call ended with.
enum StripeAttempt: Sendable {
    /// Stripe answered; the answer is read whole and within `StripeTransport.maxAnswerBytes`.
    case exchange(StripeExchange)
    /// No answer: the connection failed, the try timed out, TLS failed.
    case failed(RetryPolicy.Outcome, String)
    /// An answer refused whatever the retry rules say (larger than the cap).
    case refused(String)
}

/// Sends one request to Stripe and reads its answer: the seam between the retry loop and the network.
protocol StripeTransport: Sendable {
    /// One try, bounded by `timeout`.
    func send(_ request: URLRequest, timeout: Duration) async -> StripeAttempt
}

/// The answer-size cap, shared by every transport.
public enum StripeAnswerLimit {
    /// The largest answer read from Stripe, after any `Content-Encoding` is undone (Stripe's objects are a few KiB).
    public static let maxBytes = 1 << 20
}

/// The real transport: one long-lived `URLSession` that follows no redirect and reads no answer past the cap.
final class URLSessionTransport: StripeTransport {
    private let session: URLSession
    private let delegate: StripeSessionDelegate

    /// Creates the session; `maxConnections` should be at least the number of requests served at once.
    init(maxConnections: Int, maxAnswerBytes: Int = StripeAnswerLimit.maxBytes) {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = max(maxConnections, 8)
        // Never a proxy. FoundationNetworking on Linux ignores this and libcurl reads the proxy variables of the
        // environment itself, so the binary also clears those at start (`ProxyEnvironment`).
        configuration.connectionProxyDictionary = [:]
        configuration.urlCache = nil
        configuration.httpCookieStorage = nil
        // Without this, URLSession parses every Set-Cookie-less response for cookies anyway (4.5 % of a profile).
        configuration.httpShouldSetCookies = false
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        delegate = StripeSessionDelegate(maxAnswerBytes: maxAnswerBytes)
        session = URLSession(configuration: configuration, delegate: delegate, delegateQueue: nil)
    }

    /// One try, bounded by `timeout`: the task is cancelled when the time is up, whatever URLSession does.
    func send(_ request: URLRequest, timeout: Duration) async -> StripeAttempt {
        var request = request
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        request.timeoutInterval = seconds + 1
        let once = Once()
        return await withCheckedContinuation { continuation in
            let deadline = DeadlineBox()
            let task = session.dataTask(with: request)
            delegate.begin(task) { attempt in
                deadline.cancel()
                if once.claim() { continuation.resume(returning: attempt) }
            }
            // Our own timer: URLSession's can stall on a kept-alive connection the server dropped.
            deadline.set(
                TryDeadlines.shared.schedule(after: seconds) {
                    guard once.claim() else { return }
                    task.cancel()
                    continuation.resume(returning: .failed(.timedOut, "no answer within the deadline"))
                })
            task.resume()
        }
    }
}

/// Collects each task's answer, refuses every redirect, and stops reading an answer past the cap.
private final class StripeSessionDelegate: NSObject, URLSessionDataDelegate, Sendable {
    private struct Transfer {
        var body = Data()
        var oversized = false
        let finish: @Sendable (StripeAttempt) -> Void
    }

    private let maxAnswerBytes: Int
    private let transfers = Mutex<[Int: Transfer]>([:])

    init(maxAnswerBytes: Int) {
        self.maxAnswerBytes = maxAnswerBytes
    }

    /// Registers a task before it is resumed; `finish` is called once, when it completes.
    func begin(_ task: URLSessionTask, finish: @escaping @Sendable (StripeAttempt) -> Void) {
        transfers.withLock { $0[task.taskIdentifier] = Transfer(finish: finish) }
    }

    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void
    ) {
        // Stripe's API never redirects; following one would send the secret key to the Location's host. The
        // redirect itself becomes the answer, which the mapping turns into a 502.
        completionHandler(nil)
    }

    func urlSession(
        _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
        completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void
    ) {
        if response.expectedContentLength > Int64(maxAnswerBytes) {
            markOversized(dataTask)
            completionHandler(.cancel)
            dataTask.cancel()
            return
        }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        let overflowed = transfers.withLock { transfers -> Bool in
            guard var transfer = transfers[dataTask.taskIdentifier], !transfer.oversized else { return false }
            if transfer.body.count + data.count > maxAnswerBytes {
                transfer.oversized = true
                transfer.body = Data()
                transfers[dataTask.taskIdentifier] = transfer
                return true
            }
            transfer.body.append(data)
            transfers[dataTask.taskIdentifier] = transfer
            return false
        }
        if overflowed { dataTask.cancel() }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        guard let transfer = transfers.withLock({ $0.removeValue(forKey: task.taskIdentifier) }) else { return }
        if transfer.oversized {
            transfer.finish(.refused("Stripe's answer is larger than \(maxAnswerBytes) bytes; not read"))
        } else if let http = task.response as? HTTPURLResponse, error == nil {
            var headers: [String: String] = [:]
            for (name, value) in http.allHeaderFields {
                headers[String(describing: name).lowercased()] = String(describing: value)
            }
            transfer.finish(.exchange(StripeExchange(status: http.statusCode, headers: headers, body: transfer.body)))
        } else {
            transfer.finish(Self.failure(error))
        }
    }

    private func markOversized(_ task: URLSessionTask) {
        transfers.withLock { transfers in
            transfers[task.taskIdentifier]?.oversized = true
            transfers[task.taskIdentifier]?.body = Data()
        }
    }

    private static func failure(_ error: (any Error)?) -> StripeAttempt {
        guard let urlError = error as? URLError else {
            return .failed(
                .connectionFailed,
                "connection failed: \(error.map { String(describing: type(of: $0)) } ?? "no response")")
        }
        switch urlError.code {
        case .timedOut:
            return .failed(.timedOut, "timed out")
        case .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate,
            .serverCertificateNotYetValid, .serverCertificateHasUnknownRoot, .clientCertificateRejected,
            .clientCertificateRequired:
            return .failed(.tlsFailed, "TLS failed (URLError \(urlError.code.rawValue))")
        default:
            return .failed(.connectionFailed, "connection failed (URLError \(urlError.code.rawValue))")
        }
    }
}

/// The deadline of one try, cancelled as soon as the try finishes.
private final class DeadlineBox: Sendable {
    private let id = Mutex<TryDeadlines.ID?>(nil)

    func set(_ scheduled: TryDeadlines.ID) {
        id.withLock { $0 = scheduled }
    }

    func cancel() {
        if let scheduled = id.withLock({ $0 }) { TryDeadlines.shared.cancel(scheduled) }
    }
}

/// Lets exactly one of two racing callbacks resume a continuation.
private final class Once: Sendable {
    private let claimed = Mutex(false)

    func claim() -> Bool {
        claimed.withLock { wasClaimed in
            defer { wasClaimed = true }
            return !wasClaimed
        }
    }
}
