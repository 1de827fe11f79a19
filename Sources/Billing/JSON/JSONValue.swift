/// A parsed JSON value with the same distinctions Python's `json.loads` makes (int vs float, key order).
public enum JSONValue: Sendable, Equatable {
    /// Python `None`.
    case null
    /// Python `True` / `False`.
    case bool(Bool)
    /// A Python `str`; lone surrogates (which Swift cannot hold) have been replaced by U+FFFD.
    case string(String)
    /// A Python `int` as canonical decimal digits (optional `-`, no leading zeros, `-0` becomes `0`).
    ///
    /// Kept as text because Python ints are unbounded and are echoed back verbatim.
    case integer(String)
    /// A Python `float`, including `nan`/`inf` produced by `NaN`, `Infinity` or overflowing literals.
    case double(Double)
    /// A Python `list`.
    case array([JSONValue])
    /// A Python `dict` with insertion order preserved.
    case object(JSONObject)

    /// Compares values structurally, treating strings as exact scalar sequences.
    ///
    /// Swift `String ==` uses canonical equivalence ("é" == "e\u{301}") while Python compares code points,
    /// so the synthesized conformance would call different payloads equal.
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.string(a), .string(b)): return a.utf8.elementsEqual(b.utf8)
        case let (.integer(a), .integer(b)): return a == b
        case let (.double(a), .double(b)): return a == b
        case let (.array(a), .array(b)): return a == b
        case let (.object(a), .object(b)): return a == b
        default: return false
        }
    }
}

/// An ordered string-keyed map with Python `dict` semantics.
///
/// Assigning an existing key keeps its original position and replaces the value, which is exactly what
/// `json.loads` does with duplicate keys (first position, last value wins). Keys are compared by Unicode
/// scalars, not by Swift's canonical equivalence, to match Python.
public struct JSONObject: Sendable, Equatable {
    /// Wraps a key so hashing and equality are byte-exact instead of normalization-aware.
    private struct ExactKey: Hashable, Sendable {
        let string: String
        /// Equal when the UTF-8 bytes (hence the scalars) are identical.
        static func == (lhs: ExactKey, rhs: ExactKey) -> Bool { lhs.string.utf8.elementsEqual(rhs.string.utf8) }
        /// Hashes the raw UTF-8 bytes, consistent with the byte-wise `==`.
        func hash(into hasher: inout Hasher) {
            var copy = string
            copy.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        }
    }

    /// Keys in insertion order.
    public private(set) var keys: [String] = []
    /// Values parallel to `keys`.
    public private(set) var values: [JSONValue] = []
    private var index: [ExactKey: Int] = [:]

    /// Creates an empty object.
    public init() {}

    /// Builds an object by inserting pairs in order, so duplicates behave like Python's `dict(pairs)`.
    public init(_ pairs: [(String, JSONValue)]) {
        for (key, value) in pairs { self[key] = value }
    }

    /// The number of distinct keys.
    public var count: Int { keys.count }

    /// The `(key, value)` pairs in insertion order.
    public var entries: [(key: String, value: JSONValue)] {
        Array(zip(keys, values)).map { (key: $0.0, value: $0.1) }
    }

    /// Reads or writes a value; writing an existing key keeps its position, writing `nil` removes it.
    public subscript(key: String) -> JSONValue? {
        get { index[ExactKey(string: key)].map { values[$0] } }
        set {
            let exact = ExactKey(string: key)
            if let slot = index[exact] {
                if let newValue {
                    values[slot] = newValue
                } else {
                    removeSlot(slot)
                }
            } else if let newValue {
                index[exact] = keys.count
                keys.append(key)
                values.append(newValue)
            }
        }
    }

    /// Removes the entry at `slot` and reindexes the following keys so positions stay dense.
    private mutating func removeSlot(_ slot: Int) {
        index[ExactKey(string: keys[slot])] = nil
        keys.remove(at: slot)
        values.remove(at: slot)
        for i in slot..<keys.count { index[ExactKey(string: keys[i])] = i }
    }

    /// Compares keys (scalar-exact) and values in order; order matters because serialization depends on it.
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        lhs.keys.elementsEqual(rhs.keys) { $0.utf8.elementsEqual($1.utf8) } && lhs.values == rhs.values
    }
}
