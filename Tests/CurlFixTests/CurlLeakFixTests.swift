import CCurlLeakFix
import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// URLSession on Linux releases the URL handle it parses every request URL into with `curl_free` instead of
/// `curl_url_cleanup`, leaking the parsed parts. CCurlLeakFix's definitions must see every handle URLSession
/// makes and clean up the one it releases with `curl_free` on every request.
@Suite struct CurlLeakFixTests {
    @Test func theDefinitionsFoundLibcurl() {
        #expect(billing_curlu_fix_active() == 1)
    }

    @Test func everyHandleURLSessionMakesIsCleanedUp() async throws {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.connectionProxyDictionary = [:]
        let session = URLSession(configuration: configuration)
        defer { session.invalidateAndCancel() }
        let (created, rescued) = (billing_curlu_created_handles(), billing_curlu_rescued_handles())
        let requests = 50
        for index in 0..<requests {
            // Port 9 on loopback refuses at once; URLSession has parsed the URL by then.
            var request = URLRequest(url: URL(string: "http://127.0.0.1:9/v1/checkout/sessions?n=\(index)")!)
            request.httpMethod = "POST"
            request.httpBody = Data("a=b".utf8)
            _ = try? await session.data(for: request)
        }
        // Other suites in this process use URLSession too, so the counts can only be said to grow by at least this.
        #expect(billing_curlu_created_handles() - created >= requests)
        #expect(
            billing_curlu_rescued_handles() - rescued >= requests, "URLSession's curl_free of each handle was caught")
    }
}
