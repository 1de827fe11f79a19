import HTTPTypes

/// Extracts the bearer token from an `Authorization` header, as FastAPI's `HTTPBearer` does.
enum BearerToken {
    /// The token, or `.notAuthenticated` when there is no header, the scheme is not `Bearer`
    /// (compared case-insensitively), or the token is empty.
    static func extract(from fields: HTTPFields) throws(CheckoutError) -> String {
        guard let header = fields[.authorization] else { throw .notAuthenticated }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw .notAuthenticated }
        let token = parts[1].trimmingSpaces()
        guard !token.isEmpty else { throw .notAuthenticated }
        return String(token)
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> Substring {
        var result = self
        while result.first == " " || result.first == "\t" { result = result.dropFirst() }
        while result.last == " " || result.last == "\t" { result = result.dropLast() }
        return result
    }
}
