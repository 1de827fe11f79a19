// Heap growth of a raw URLSession loop, for docs/performance.md (target 5b): N request chains post to
// BASE_URL/v1/checkout/sessions through one ephemeral URLSession, and every STEP requests the program prints
// the heap in use (glibc mallinfo2) and VmRSS. Built twice by run.sh: as is, and linked with
// Sources/CCurlLeakFix, to show what URLSession's per-request leak of libcurl URL handles costs.
// usage: urlsession-leak BASE_URL CHAINS REQUESTS STEP
import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

let arguments = CommandLine.arguments
guard arguments.count == 5, let chains = Int(arguments[2]), let total = Int(arguments[3]), let step = Int(arguments[4])
else {
    FileHandle.standardError.write(Data("usage: urlsession-leak BASE_URL CHAINS REQUESTS STEP\n".utf8))
    exit(64)
}
let endpoint = URL(string: arguments[1] + "/v1/checkout/sessions")!
let configuration = URLSessionConfiguration.ephemeral
configuration.httpMaximumConnectionsPerHost = max(chains, 8)
configuration.connectionProxyDictionary = [:]
configuration.urlCache = nil
configuration.httpCookieStorage = nil
configuration.httpShouldSetCookies = false
configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
let session = URLSession(configuration: configuration)

final class Progress: @unchecked Sendable {
    let lock = NSLock()
    var done = 0
    let finished = DispatchSemaphore(value: 0)
}
let progress = Progress()

func residentKiB() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
    return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
}

func chain() {
    var request = URLRequest(url: endpoint)
    request.httpMethod = "POST"
    request.setValue("Bearer sk_test_bench", forHTTPHeaderField: "Authorization")
    request.setValue("bc-" + UUID().uuidString.lowercased(), forHTTPHeaderField: "Idempotency-Key")
    request.httpBody = Data("mode=subscription&line_items%5B0%5D%5Bprice%5D=price_bench".utf8)
    request.timeoutInterval = 21
    session.dataTask(with: request) { _, _, _ in
        progress.lock.lock()
        progress.done += 1
        let done = progress.done
        progress.lock.unlock()
        if done % step == 0 {
            let heap = mallinfo2()
            print("requests=\(done) heap_in_use_kib=\(heap.uordblks / 1024) rss_kib=\(residentKiB())")
            fflush(stdout)
        }
        if done == total { progress.finished.signal() }
        if done < total { chain() }
    }.resume()
}

for _ in 0..<chains { chain() }
progress.finished.wait()
