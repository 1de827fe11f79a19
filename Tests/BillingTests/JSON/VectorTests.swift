import Foundation
import Testing

@testable import Billing

/// One CPython observation produced by `gen_vectors.py`.
struct Vector: Codable, Sendable, CustomTestStringConvertible {
    var hex: String
    var ok: String?
    var error: String?
    var pos: Int?
    var fail: String?

    /// Shows the input (truncated) so a failing argument is identifiable in test output.
    var testDescription: String { "hex=\(hex.prefix(80))" }

    /// The input bytes decoded from hex.
    var bytes: [UInt8] {
        let chars = Array(hex.utf8)
        return stride(from: 0, to: chars.count, by: 2).map {
            UInt8(String(decoding: chars[$0..<$0 + 2], as: UTF8.self), radix: 16)!
        }
    }

    /// Runs the Swift parser and describes the mismatch with Python, or returns nil on agreement.
    func mismatch() -> String? {
        let actual: String
        do throws(PythonJSONError) {
            actual = "ok " + (try PythonJSON.parse(bytes)).serialized()
        } catch {
            switch error {
            case .decode(let e): actual = "error \(e.message) @\(e.position)"
            case .invalidUTF8: actual = "fail invalidUTF8"
            case .tooDeep: actual = "fail tooDeep"
            case .integerTooLong: actual = "fail integerTooLong"
            }
        }
        let expected = ok.map { "ok " + $0 } ?? error.map { "error \($0) @\(pos ?? -1)" } ?? "fail \(fail ?? "?")"
        return actual == expected ? nil : "\(testDescription)\n  python: \(expected)\n  swift:  \(actual)"
    }
}

/// Reads a vector file written by `gen_vectors.py`.
func loadVectors(_ url: URL) -> [Vector] {
    guard let data = try? Data(contentsOf: url) else { return [] }
    return (try? JSONDecoder().decode([Vector].self, from: data)) ?? []
}

/// The committed corpus, read from beside this file (a missing file fails `corpusIsPresent`).
let committedVectors: [Vector] = loadVectors(
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Resources/vectors.json"))

/// Compares the Swift port with CPython on generated vectors.
@Suite struct DifferentialTests {
    /// Guards against a missing or unreadable resource silently yielding zero cases.
    @Test func corpusIsPresent() {
        #expect(committedVectors.count > 300)
    }

    /// Each committed input must give exactly the value, error or failure CPython gave.
    @Test(arguments: committedVectors)
    func matchesCPython(_ vector: Vector) {
        let problem = vector.mismatch()
        #expect(problem == nil, "\(problem ?? "")")
    }

    /// Runs a large, uncommitted corpus when `PYJSON_VECTORS` points at one (see gen_vectors.py --out).
    @Test(.enabled(if: ProcessInfo.processInfo.environment["PYJSON_VECTORS"] != nil))
    func matchesCPythonOnExternalCorpus() {
        let path = ProcessInfo.processInfo.environment["PYJSON_VECTORS"]!
        let vectors = loadVectors(URL(fileURLWithPath: path))
        #expect(!vectors.isEmpty)
        let problems = vectors.compactMap { $0.mismatch() }
        #expect(
            problems.isEmpty,
            "\(problems.count) mismatches of \(vectors.count):\n\(problems.prefix(30).joined(separator: "\n"))")
    }
}
