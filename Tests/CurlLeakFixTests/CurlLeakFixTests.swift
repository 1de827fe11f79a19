import CCurlLeakFix
import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// URLSession on Linux releases the URL handle it parses every request URL into with `curl_free` instead of
/// `curl_url_cleanup`, leaking the parsed parts. CCurlLeakFix's definitions must see every handle URLSession
/// makes and leave none alive once the requests are over.
@Suite struct CurlLeakFixTests {
    @Test func theDefinitionsFoundLibcurl() {
        #expect(billing_curlu_fix_active() == 1)
    }

    @Test func everyHandleURLSessionMakesIsCleanedUp() async throws {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.connectionProxyDictionary = [:]
        let session = URLSession(configuration: configuration)
        defer { session.invalidateAndCancel() }
        let before = billing_curlu_created_handles()
        let requests = 50
        for index in 0..<requests {
            // Port 9 on loopback refuses at once; URLSession has parsed the URL by then.
            var request = URLRequest(url: URL(string: "http://127.0.0.1:9/v1/checkout/sessions?n=\(index)")!)
            request.httpMethod = "POST"
            request.httpBody = Data("a=b".utf8)
            _ = try? await session.data(for: request)
        }
        #expect(billing_curlu_created_handles() - before >= requests)
        // Other suites in this process may be mid-request; their handles are released within moments.
        var live = billing_curlu_live_handles()
        for _ in 0..<100 where live != 0 {
            try await Task.sleep(for: .milliseconds(50))
            live = billing_curlu_live_handles()
        }
        #expect(live == 0)
    }
}
