import Foundation

/// One decoded `application/x-www-form-urlencoded` field, in the order it was sent.
struct FormPair: Sendable, Equatable {
    /// The full bracketed key, for example `line_items[0][price]`.
    let key: String
    /// The percent-decoded value.
    let value: String
}

/// Decodes Stripe-style form bodies into flat pairs and nested JSON.
enum FormDecoder {

    /// Splits a form body into percent-decoded pairs, treating `+` as a space.
    static func pairs(from body: String) -> [FormPair] {
        body.split(separator: "&", omittingEmptySubsequences: true).map { field in
            let parts = field.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = decodeComponent(String(parts[0]))
            let value = parts.count > 1 ? decodeComponent(String(parts[1])) : ""
            return FormPair(key: key, value: value)
        }
    }

    /// Percent-decodes one key or value, keeping the raw text when the escapes are malformed.
    static func decodeComponent(_ raw: String) -> String {
        let spaced = raw.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }

    /// Splits a bracketed key into its path, so `a[b][]` becomes `["a", "b", ""]`.
    static func path(of key: String) -> [String] {
        guard let open = key.firstIndex(of: "[") else { return [key] }
        var path = [String(key[..<open])]
        var rest = key[open...]
        while rest.first == "[", let close = rest.firstIndex(of: "]") {
            path.append(String(rest[rest.index(after: rest.startIndex)..<close]))
            rest = rest[rest.index(after: close)...]
        }
        if !rest.isEmpty { path[path.count - 1] += rest }
        return path
    }

    /// Builds the nested structure of all pairs; objects keyed only by indices become arrays.
    static func nested(_ pairs: [FormPair]) -> JSON {
        var root = FormNode.branch([])
        for pair in pairs {
            root.insert(pair.value, at: path(of: pair.key)[...])
        }
        return root.json
    }
}

/// An intermediate tree of form values before conversion to JSON.
private enum FormNode {
    case leaf(String)
    case branch([(String, FormNode)])

    /// Stores `value` at `path`, creating branches as needed and appending for empty `[]` keys.
    mutating func insert(_ value: String, at path: ArraySlice<String>) {
        guard let head = path.first else {
            self = .leaf(value)
            return
        }
        var children: [(String, FormNode)] = []
        if case .branch(let existing) = self { children = existing }
        let key = head.isEmpty ? String(children.count) : head
        if let index = children.firstIndex(where: { $0.0 == key }) {
            children[index].1.insert(value, at: path.dropFirst())
        } else {
            var child = FormNode.branch([])
            child.insert(value, at: path.dropFirst())
            children.append((key, child))
        }
        self = .branch(children)
    }

    /// Converts the tree to JSON, turning branches keyed by integers into arrays ordered by index.
    var json: JSON {
        switch self {
        case .leaf(let value):
            return .string(value)
        case .branch(let children):
            let indices = children.compactMap { Int($0.0) }
            if !children.isEmpty, indices.count == children.count {
                let sorted = children.sorted { Int($0.0)! < Int($1.0)! }
                return .array(sorted.map { $0.1.json })
            }
            return .object(children.map { ($0.0, $0.1.json) })
        }
    }
}
