import Foundation
import JWTKit

/// Every top-level claim of a token, kept by name, because the plan and customer claim names are settings.
struct TokenClaims: JWTPayload {
    /// A claim's value, reduced to the shapes this endpoint reads.
    enum Value: Codable, Sendable, Equatable {
        case string(String)
        case number(Double)
        case bool(Bool)
        case strings([String])
        case other

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let string = try? container.decode(String.self) {
                self = .string(string)
            } else if let bool = try? container.decode(Bool.self) {
                self = .bool(bool)
            } else if let number = try? container.decode(Double.self) {
                self = .number(number)
            } else if let strings = try? container.decode([String].self) {
                self = .strings(strings)
            } else {
                self = .other
            }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .string(let value): try container.encode(value)
            case .number(let value): try container.encode(value)
            case .bool(let value): try container.encode(value)
            case .strings(let value): try container.encode(value)
            case .other: try container.encodeNil()
            }
        }
    }

    private struct Name: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    var values: [String: Value]

    init(values: [String: Value]) {
        self.values = values
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Name.self)
        var values: [String: Value] = [:]
        for key in container.allKeys {
            values[key.stringValue] = try container.decode(Value.self, forKey: key)
        }
        self.values = values
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Name.self)
        for (name, value) in values {
            try container.encode(value, forKey: Name(stringValue: name))
        }
    }

    /// Signature checks come from jwt-kit; the claim checks need settings and a clock, so `TokenVerifier` does them.
    func verify(using algorithm: some JWTAlgorithm) async throws {}

    /// A string claim, or nil when absent, empty or not a string.
    func string(_ name: String) -> String? {
        if case .string(let value)? = values[name], !value.isEmpty { return value }
        return nil
    }

    /// A numeric claim (seconds since the epoch for `exp` and `nbf`).
    func number(_ name: String) -> Double? {
        if case .number(let value)? = values[name] { return value }
        return nil
    }
}
