// The ceiling of the HTTP client billing-checkout uses, for scripts/bench: N request chains, each posting
// the same form body with the same headers to STRIPE_API_BASE/v1/checkout/sessions through one ephemeral
// URLSession configured like URLSessionStripeClient (completion-handler data tasks, no cache, no proxy,
// httpMaximumConnectionsPerHost = max(N, 8)). Each chain sends its next request when its answer is in.
// usage: urlsession-loop BASE_URL N SECONDS — prints one `BENCH …` line with requests/s and CPU seconds.
// Build: swiftc -O bench/URLSessionLoop/main.swift -o urlsession-loop
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments
guard arguments.count == 4, let chains = Int(arguments[2]), let seconds = Double(arguments[3]) else {
    FileHandle.standardError.write(Data("usage: urlsession-loop BASE_URL N SECONDS\n".utf8))
    exit(64)
}
let endpoint = URL(string: arguments[1] + "/v1/checkout/sessions")!
let form = "mode=subscription&line_items%5B0%5D%5Bprice%5D=price_bench&line_items%5B0%5D%5Bquantity%5D=1"
    + "&success_url=http%3A%2F%2Flocalhost%3A3000%2Fdashboard%3Fsuccess%3Dtrue"
    + "&cancel_url=http%3A%2F%2Flocalhost%3A3000%2Fdashboard%3Fcanceled%3Dtrue"
    + "&client_reference_id=user_bench&metadata%5Buser_id%5D=user_bench"
    + "&subscription_data%5Bmetadata%5D%5Buser_id%5D=user_bench&customer_email=dev%40example.com"

let configuration = URLSessionConfiguration.ephemeral
configuration.httpMaximumConnectionsPerHost = max(chains, 8)
configuration.connectionProxyDictionary = [:]
configuration.urlCache = nil
configuration.httpCookieStorage = nil
configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
let session = URLSession(configuration: configuration)

final class Counters: @unchecked Sendable {
    let lock = NSLock()
    var ok = 0
    var failed = 0
    var measuring = false
    var stopped = false
}
let counters = Counters()

func makeRequest() -> URLRequest {
    var request = URLRequest(url: endpoint)
    request.httpMethod = "POST"
    request.setValue("Bearer sk_test_bench", forHTTPHeaderField: "Authorization")
    request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
    request.setValue("2024-06-20", forHTTPHeaderField: "Stripe-Version")
    request.setValue("billing-checkout/1.0", forHTTPHeaderField: "User-Agent")
    request.setValue("bc-" + UUID().uuidString.lowercased(), forHTTPHeaderField: "Idempotency-Key")
    request.httpBody = Data(form.utf8)
    request.timeoutInterval = 21
    return request
}

func chain() {
    session.dataTask(with: makeRequest()) { data, response, error in
        let ok = error == nil && (response as? HTTPURLResponse)?.statusCode == 200 && data != nil
        counters.lock.lock()
        if counters.measuring { if ok { counters.ok += 1 } else { counters.failed += 1 } }
        let stop = counters.stopped
        counters.lock.unlock()
        if !stop { chain() }
    }.resume()
}

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

for _ in 0..<chains { chain() }
Thread.sleep(forTimeInterval: min(1, seconds / 3))  // warm-up: connections opened, not counted
counters.lock.lock(); counters.measuring = true; counters.lock.unlock()
let cpuStart = cpuSeconds()
let start = Date()
Thread.sleep(forTimeInterval: seconds)
counters.lock.lock()
counters.measuring = false
counters.stopped = true
let (ok, failed) = (counters.ok, counters.failed)
counters.lock.unlock()
let elapsed = Date().timeIntervalSince(start)
let cpu = cpuSeconds() - cpuStart
var hwm = "0"
if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
    let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
{
    hwm = String(line.split(separator: " ", omittingEmptySubsequences: true)[1])
}
print(String(format: "BENCH requests=%d failed=%d rps=%.1f cpu_s=%.3f elapsed_s=%.3f hwm_kb=%@",
    ok, failed, Double(ok) / elapsed, cpu, elapsed, hwm))
exit(0)
