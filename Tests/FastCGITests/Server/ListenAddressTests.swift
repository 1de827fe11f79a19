import Testing

@testable import FastCGI

/// `ListenAddress(argument:)`: the `--listen` argument.
@Suite struct ListenAddressTests {
    @Test(
        "parses TCP addresses and socket paths",
        arguments: [
            ("127.0.0.1:9000", ListenAddress.tcp(host: "127.0.0.1", port: 9000)), (":9000", .tcp(host: "", port: 9000)),
            ("localhost:1", .tcp(host: "localhost", port: 1)), ("[::1]:9000", .tcp(host: "::1", port: 9000)),
            ("0.0.0.0:65535", .tcp(host: "0.0.0.0", port: 65535)),
            ("/run/billing.sock", .unix(path: "/run/billing.sock")),
            ("./billing.sock", .unix(path: "./billing.sock")),
        ])
    func parses(argument: String, expected: ListenAddress) {
        #expect(ListenAddress(argument: argument) == expected)
    }

    @Test("refuses what is neither", arguments: ["localhost", "host:0", "host:65536", "host:abc", "host:", "", "9000"])
    func refuses(argument: String) {
        #expect(ListenAddress(argument: argument) == nil)
    }
}
