import HTTPTypes

/// Turns the CGI/FastCGI parameters of one request (RFC 3875 meta-variables) into an `HTTPRequest`.
public enum CGIEnvironment {
    /// Why a set of parameters could not become a request.
    public enum Failure: Error, Equatable {
        /// `REQUEST_METHOD` is missing or not an HTTP token.
        case invalidMethod
    }

    /// Builds the request head from the parameters a web server passed.
    ///
    /// The path is `REQUEST_URI` (query included) when the server sets it, since every server sets it the
    /// same way; otherwise `SCRIPT_NAME` + `PATH_INFO` + `?QUERY_STRING`. Headers come from `HTTP_*`,
    /// `CONTENT_TYPE` and `CONTENT_LENGTH`; names that are not HTTP tokens are dropped.
    public static func requestHead(from params: [String: String]) throws(Failure) -> HTTPRequest {
        guard let methodName = params["REQUEST_METHOD"], let method = HTTPRequest.Method(methodName) else {
            throw .invalidMethod
        }
        var fields = HTTPFields()
        fields.reserveCapacity(params.count)
        for (name, value) in params {
            guard let fieldName = headerName(forParameter: name) else { continue }
            fields.append(HTTPField(name: fieldName, value: value))
        }
        let scheme = params["HTTPS"].map { $0.lowercased() == "on" || $0 == "1" } == true ? "https" : "http"
        return HTTPRequest(
            method: method,
            scheme: scheme,
            authority: params["HTTP_HOST"] ?? params["SERVER_NAME"],
            path: path(from: params),
            headerFields: fields
        )
    }

    /// The request target: `REQUEST_URI` when present, else rebuilt from `SCRIPT_NAME`, `PATH_INFO` and `QUERY_STRING`.
    public static func path(from params: [String: String]) -> String {
        if let uri = params["REQUEST_URI"], !uri.isEmpty {
            return uri
        }
        var path = (params["SCRIPT_NAME"] ?? "") + (params["PATH_INFO"] ?? "")
        if path.isEmpty { path = "/" }
        if let query = params["QUERY_STRING"], !query.isEmpty {
            path += "?" + query
        }
        return path
    }

    /// The HTTP header a CGI parameter stands for (`HTTP_X_FOO` is `x-foo`), or nil when it stands for none.
    static func headerName(forParameter name: String) -> HTTPField.Name? {
        switch name {
        case "CONTENT_TYPE": return .contentType
        case "CONTENT_LENGTH": return .contentLength
        // nginx passes these as well as CONTENT_TYPE/CONTENT_LENGTH; reading both would double the header.
        case "HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH": return nil
        default:
            guard name.hasPrefix("HTTP_"), name.count > 5 else { return nil }
            let rawName = name.dropFirst(5).lowercased().replacingUnderscores()
            return HTTPField.Name(rawName)
        }
    }

    /// Reads `CONTENT_LENGTH`: nil when absent or empty, `.tooLarge` past `limit`, `.malformed` when not a number.
    public static func declaredLength(_ value: String?, limit: Int) -> DeclaredLength {
        guard let value, !value.isEmpty else { return .absent }
        guard value.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return .malformed
        }
        // All digits: a number too large for Int is still just "too large".
        guard let length = Int(value), length <= limit else { return .tooLarge }
        return .exactly(length)
    }

    /// What `CONTENT_LENGTH` announced.
    public enum DeclaredLength: Equatable, Sendable {
        /// No `CONTENT_LENGTH` (or an empty one).
        case absent
        /// A length within the limit.
        case exactly(Int)
        /// A length over the limit.
        case tooLarge
        /// Not a decimal number.
        case malformed
    }
}

extension String {
    fileprivate func replacingUnderscores() -> String {
        String(self.map { $0 == "_" ? "-" : $0 })
    }
}
