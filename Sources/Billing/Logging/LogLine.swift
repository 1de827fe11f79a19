import Logging

/// One log event as one line of text, escaped so that no value can add a line, a field or a control byte.
///
/// A logfmt value is written bare only when it is non-empty printable ASCII without space, `=` or `"`;
/// otherwise it is quoted exactly as a JSON string is, so both formats share one escaping: `\"`, `\\`, `\n`,
/// `\r`, `\t`, and `\u00XX` for every other control character (C0, DEL, C1) and for U+2028/U+2029.
/// Metadata keys keep only `A–Z a–z 0–9 _ . -` (others become `_`), and a key already on the line (`ts`,
/// `level`, `logger`, `msg`, or another key that sanitizes the same) gets `_2`, `_3`…, so a line never has
/// a key twice.
public struct LogLine: Sendable {
    /// When the event happened, as text (RFC 3339, UTC).
    public var timestamp: String
    /// The event's level.
    public var level: Logger.Level
    /// The logger's label.
    public var label: String
    /// The event's message.
    public var message: String
    /// The event's metadata, merged from the logger, its provider and the call.
    public var metadata: Logger.Metadata

    /// Creates a line from an event's parts.
    public init(
        timestamp: String, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata = [:]
    ) {
        self.timestamp = timestamp
        self.level = level
        self.label = label
        self.message = message
        self.metadata = metadata
    }

    /// The keys every line starts with, in this order.
    static let fixedKeys = ["ts", "level", "logger", "msg"]

    /// The line's bytes in `format`, ending in a newline.
    public func encoded(as format: LogFormat) -> [UInt8] {
        var line: [UInt8] = []
        line.reserveCapacity(256)
        let fixed = [timestamp, level.rawValue, label, message]
        let fields = Self.uniqueKeys(metadata)
        switch format {
        case .logfmt:
            for (key, value) in zip(Self.fixedKeys, fixed) {
                Self.appendLogfmtField(key, value, to: &line)
            }
            for (key, value) in fields {
                Self.appendLogfmtField(key, value.description, to: &line)
            }
        case .json:
            line.append(UInt8(ascii: "{"))
            for (key, value) in zip(Self.fixedKeys, fixed) {
                Self.appendJSONMember(key, to: &line)
                Self.appendQuoted(value, to: &line)
            }
            for (key, value) in fields {
                Self.appendJSONMember(key, to: &line)
                Self.appendJSON(value, to: &line)
            }
            line.append(UInt8(ascii: "}"))
        }
        line.append(UInt8(ascii: "\n"))
        return line
    }

    /// The metadata in key order, each key sanitized and made distinct from the fixed keys and from each other.
    static func uniqueKeys(_ metadata: Logger.Metadata) -> [(key: String, value: Logger.MetadataValue)] {
        var taken = Set(fixedKeys)
        var fields: [(key: String, value: Logger.MetadataValue)] = []
        fields.reserveCapacity(metadata.count)
        for key in metadata.keys.sorted() {
            let base = sanitizedKey(key)
            var unique = base
            var suffix = 2
            while !taken.insert(unique).inserted {
                unique = "\(base)_\(suffix)"
                suffix += 1
            }
            fields.append((unique, metadata[key]!))
        }
        return fields
    }

    /// `key` with every character outside `A–Z a–z 0–9 _ . -` replaced by `_`; `_` for an empty key.
    static func sanitizedKey(_ key: String) -> String {
        guard !key.isEmpty else { return "_" }
        var sanitized = String.UnicodeScalarView()
        for scalar in key.unicodeScalars {
            switch scalar {
            case "A"..."Z", "a"..."z", "0"..."9", "_", ".", "-": sanitized.append(scalar)
            default: sanitized.append("_")
            }
        }
        return String(sanitized)
    }

    /// Whether logfmt can write `value` without quotes: non-empty printable ASCII other than space, `=` and `"`.
    static func isBare(_ value: String) -> Bool {
        !value.isEmpty
            && value.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "=") && $0 != UInt8(ascii: "\"") }
    }

    private static func appendLogfmtField(_ key: String, _ value: String, to line: inout [UInt8]) {
        if !line.isEmpty { line.append(UInt8(ascii: " ")) }
        line.append(contentsOf: key.utf8)
        line.append(UInt8(ascii: "="))
        if isBare(value) {
            line.append(contentsOf: value.utf8)
        } else {
            appendQuoted(value, to: &line)
        }
    }

    private static func appendJSONMember(_ key: String, to line: inout [UInt8]) {
        // Only the opening brace is on the line before the first member.
        if line.count > 1 { line.append(UInt8(ascii: ",")) }
        appendQuoted(key, to: &line)
        line.append(UInt8(ascii: ":"))
    }

    /// A metadata value as JSON: strings as strings, arrays and dictionaries as arrays and objects.
    private static func appendJSON(_ value: Logger.MetadataValue, to line: inout [UInt8]) {
        switch value {
        case .string(let string): appendQuoted(string, to: &line)
        case .stringConvertible(let convertible): appendQuoted(convertible.description, to: &line)
        case .array(let items):
            line.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                appendJSON(item, to: &line)
            }
            line.append(UInt8(ascii: "]"))
        case .dictionary(let members):
            line.append(UInt8(ascii: "{"))
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                appendQuoted(key, to: &line)
                line.append(UInt8(ascii: ":"))
                appendJSON(members[key]!, to: &line)
            }
            line.append(UInt8(ascii: "}"))
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// `text` as a JSON string literal: the form of every quoted logfmt value too.
    static func appendQuoted(_ text: String, to line: inout [UInt8]) {
        line.append(UInt8(ascii: "\""))
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x22: line.append(contentsOf: #"\""#.utf8)
            case 0x5C: line.append(contentsOf: #"\\"#.utf8)
            case 0x0A: line.append(contentsOf: #"\n"#.utf8)
            case 0x0D: line.append(contentsOf: #"\r"#.utf8)
            case 0x09: line.append(contentsOf: #"\t"#.utf8)
            // C0, DEL and C1 controls (ESC among them), and the two separators that some viewers break lines at.
            case 0x00...0x1F, 0x7F...0x9F, 0x2028, 0x2029:
                line.append(contentsOf: #"\u"#.utf8)
                for shift in stride(from: 12, through: 0, by: -4) {
                    line.append(hexDigits[Int((scalar.value >> UInt32(shift)) & 0xF)])
                }
            default:
                UTF8.encode(scalar) { line.append($0) }
            }
        }
        line.append(UInt8(ascii: "\""))
    }
}
