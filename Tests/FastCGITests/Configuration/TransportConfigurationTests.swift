import Configuration
import Foundation
import SystemPackage
import Testing

@testable import FastCGI

/// `TransportConfiguration(reader:problems:)`: the transport's settings, from the sources the application's come
/// from (environment variables over the `BILLING_CONFIG` JSON file), every problem at once.
@Suite struct TransportConfigurationTests {
    /// Reads the configuration from `environment` and, when given, a JSON file with `json` in it.
    static func read(_ environment: [String: String] = [:], json: String? = nil) async throws -> (
        configuration: TransportConfiguration, problems: [String]
    ) {
        var providers: [any ConfigProvider] = [EnvironmentVariablesProvider(environmentVariables: environment)]
        if let json {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("transport-\(UUID().uuidString)")
            try json.write(to: path, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: path) }
            providers.append(try await FileProvider<JSONSnapshot>(filePath: FilePath(path.path)))
        }
        var problems: [String] = []
        let configuration = TransportConfiguration(reader: ConfigReader(providers: providers), problems: &problems)
        return (configuration, problems)
    }

    @Test("nothing set reads as the documented defaults")
    func defaults() async throws {
        let (configuration, problems) = try await Self.read()
        #expect(problems.isEmpty)
        #expect(configuration == TransportConfiguration())
        #expect(configuration.workers == 160)
        #expect(configuration.maxBodyBytes == 64 * 1024)
        #expect(configuration.bodyTimeoutSeconds == 30)
        #expect(configuration.dispatch == .tasks)
    }

    @Test("each setting comes from its variable, or from its key in the JSON file; the variable wins")
    func sources() async throws {
        let environment = [
            "WORKERS": "8", "MAX_BODY_BYTES": "2048", "BODY_TIMEOUT_SECONDS": " 5 ", "FASTCGI_DISPATCH": "threads",
        ]
        #expect(
            try await Self.read(environment)
                == (
                    TransportConfiguration(workers: 8, maxBodyBytes: 2048, bodyTimeoutSeconds: 5, dispatch: .threads),
                    []
                ))
        let json = #"{"workers": 2, "maxBodyBytes": 4096, "bodyTimeoutSeconds": 600, "fastcgiDispatch": "threads"}"#
        #expect(
            try await Self.read(json: json)
                == (
                    TransportConfiguration(workers: 2, maxBodyBytes: 4096, bodyTimeoutSeconds: 600, dispatch: .threads),
                    []
                ))
        #expect(try await Self.read(["WORKERS": "3"], json: json).configuration.workers == 3)
    }

    @Test("FASTCGI_DISPATCH chooses tasks (the default) or threads; anything else is a problem")
    func fastcgiDispatch() async throws {
        #expect(try await Self.read().configuration.dispatch == .tasks)
        #expect(try await Self.read(["FASTCGI_DISPATCH": "Threads"]).configuration.dispatch == .threads)
        let problems = try await Self.read(["FASTCGI_DISPATCH": "fibers"]).problems
        #expect(problems == ["fastcgiDispatch (FASTCGI_DISPATCH) must be one of tasks, threads, got fibers"])
    }

    @Test(
        "a number in BILLING_CONFIG that is not a whole number in range is a problem, never a trap or a silent default",
        arguments: ["1e300", "3.5", "-1", "99999999999999999999999", "\"12x\""])
    func numbersFromFile(value: String) async throws {
        let (configuration, problems) = try await Self.read(json: #"{"workers": \#(value)}"#)
        #expect(problems == ["workers (WORKERS) must be a whole number from 1 to 1024"])
        #expect(configuration.workers == 160)
    }

    @Test(
        "invalid numbers are refused with a line naming the variable",
        arguments: [
            ("MAX_BODY_BYTES", "1.5", "maxBodyBytes (MAX_BODY_BYTES) must be a whole number from 1024 to 16777216"),
            (
                "BODY_TIMEOUT_SECONDS", "0",
                "bodyTimeoutSeconds (BODY_TIMEOUT_SECONDS) must be a whole number from 1 to 600"
            ),
            ("WORKERS", "0", "workers (WORKERS) must be a whole number from 1 to 1024"),
            ("WORKERS", "many", "workers (WORKERS) must be a whole number from 1 to 1024"),
        ])
    func invalidValues(variable: String, value: String, line: String) async throws {
        #expect(try await Self.read([variable: value]).problems == [line])
    }

    @Test("every problem is reported, not only the first")
    func everyProblem() async throws {
        let problems = try await Self.read(["WORKERS": "0", "MAX_BODY_BYTES": "1", "FASTCGI_DISPATCH": "x"]).problems
        #expect(
            problems == [
                "fastcgiDispatch (FASTCGI_DISPATCH) must be one of tasks, threads, got x",
                "maxBodyBytes (MAX_BODY_BYTES) must be a whole number from 1024 to 16777216",
                "workers (WORKERS) must be a whole number from 1 to 1024",
            ])
    }
}
