/// A `json.JSONDecodeError` as CPython 3.11 reports it, carrying `e.msg` and `e.pos`.
///
/// FastAPI copies `msg` into `ctx.error` and `pos` into `loc`, so both must match byte for byte.
public struct JSONDecodeError: Error, Equatable, Sendable {
    /// The message exactly as CPython's `e.msg`, e.g. `"Expecting ',' delimiter"`.
    public var message: String
    /// The offset in Unicode code points (a Python `str` index) into the decoded text, after any BOM.
    public var position: Int

    /// Creates a decode error from a CPython-style message and code point offset.
    public init(message: String, position: Int) {
        self.message = message
        self.position = position
    }
}

/// Every way `PythonJSON.parse` can fail, split by how FastAPI would surface it.
///
/// Only `.decode` becomes a 422 `json_invalid` item; FastAPI turns every other exception raised
/// while parsing the body into `400 "There was an error parsing the body"`.
public enum PythonJSONError: Error, Equatable, Sendable {
    /// The bytes could not be decoded in the encoding Python's `json.detect_encoding` picked (UnicodeDecodeError).
    case invalidUTF8
    /// Containers nest deeper than the caller's `maxDepth` (Python would raise RecursionError much later).
    case tooDeep
    /// An integer literal has more than 4300 digits, which Python 3.11's `int()` refuses with ValueError.
    case integerTooLong(digits: Int)
    /// The text is not valid JSON; this is the `json.JSONDecodeError` FastAPI reports as `json_invalid`.
    case decode(JSONDecodeError)
}
