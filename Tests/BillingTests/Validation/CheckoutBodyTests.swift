import Testing

@testable import Billing

/// `CheckoutBody.validate` against every row of DESIGN §1.1.
@Suite struct CheckoutBodyTests {
    static let policy = RedirectURLPolicy(allowedOrigins: [Fixture.appOrigin])
    static let defaults = (
        success: "https://app.example.com/dashboard?success=true",
        cancel: "https://app.example.com/dashboard?canceled=true"
    )

    /// Validates `body`, returning the thrown error (nil when the body was accepted).
    static func failure(_ body: [UInt8], contentType: String? = "application/json") -> CheckoutError? {
        do throws(CheckoutError) {
            _ = try CheckoutBody.validate(body: body, contentType: contentType, defaults: defaults, policy: policy)
            return nil
        } catch {
            return error
        }
    }

    static func failure(_ body: String, contentType: String? = "application/json") -> CheckoutError? {
        failure(Array(body.utf8), contentType: contentType)
    }

    /// The `detail` array of the 422 body, as serialized text.
    static func detail(_ body: String, contentType: String? = "application/json") -> String? {
        guard case .validation(let issues)? = failure(body, contentType: contentType) else { return nil }
        return JSONValue.array(issues.map(\.json)).serialized()
    }

    @Test("an empty body is a missing body, whatever the content type")
    func emptyBody() {
        for contentType: String? in ["application/json", "text/plain", nil] {
            #expect(
                Self.failure([], contentType: contentType)?.bodyText
                    == #"{"detail":[{"type":"missing","loc":["body"],"msg":"Field required","input":null}]}"#)
        }
    }

    @Test(
        "a body that is not JSON reports Python's offset and message",
        arguments: [
            ("{", 1, "Expecting property name enclosed in double quotes"),
            ("not json", 0, "Expecting value"),
            (#"{"success_url": }"#, 16, "Expecting value"),
            (#"{"a":1,}"#, 7, "Expecting property name enclosed in double quotes"),
            ("[1,2", 4, "Expecting ',' delimiter"),
            (#"{"a" 1}"#, 5, "Expecting ':' delimiter"),
            (#"{"é": x}"#, 6, "Expecting value"),
            ("  ", 2, "Expecting value"),
            (#"{"success_url":"x"} extra"#, 20, "Extra data"),
        ])
    func notJSON(body: String, position: Int, reason: String) {
        #expect(
            Self.detail(body)
                == #"[{"type":"json_invalid","loc":["body",\#(position)],"msg":"JSON decode error","input":{},"ctx":{"error":"\#(reason)"}}]"#
        )
    }

    @Test(
        "JSON that is not an object is echoed back as the input",
        arguments: [
            ("[1,2]", "[1,2]"), (#""https://app.example.com""#, #""https://app.example.com""#), ("12.50", "12.5"),
            ("null", "null"), ("true", "true"), ("7", "7"),
        ])
    func notAnObject(body: String, echoed: String) {
        #expect(
            Self.detail(body)
                == #"[{"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid dictionary or object to extract fields from","input":\#(echoed)}]"#
        )
    }

    @Test(
        "a non-JSON content type gets the raw body back as a string",
        arguments: [
            "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx",
        ])
    func nonJSONContentType(contentType: String) {
        let body = #"{"success_url":"https://app.example.com/ok"}"#
        #expect(
            Self.failure(body, contentType: contentType)?.bodyText
                == #"{"detail":[{"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid dictionary or object to extract fields from","input":"{\"success_url\":\"https://app.example.com/ok\"}"}]}"#
        )
    }

    @Test(
        "JSON content types and parameters read the body as JSON",
        arguments: [
            "application/json", "application/merge-patch+json", "application/json; charset=utf-8", "APPLICATION/JSON",
            " application/problem+json ;q=1",
        ] as [String?])
    func jsonContentTypes(contentType: String?) throws {
        let body = try CheckoutBody.validate(
            body: Array(#"{"success_url":"https://app.example.com/ok"}"#.utf8), contentType: contentType,
            defaults: Self.defaults, policy: Self.policy)
        #expect(body == CheckoutBody(successURL: "https://app.example.com/ok", cancelURL: Self.defaults.cancel))
    }

    @Test(
        "no Content-Type, or an empty one (nginx's stock fastcgi_params sends CONTENT_TYPE=\"\"), is not JSON: the raw body is the model_attributes_type input, as FastAPI's strict_content_type",
        arguments: [nil, ""] as [String?])
    func missingContentTypeIsNotJSON(contentType: String?) {
        #expect(!CheckoutBody.isJSON(contentType: contentType))
        let body = #"{"success_url":"https://app.example.com/ok"}"#
        #expect(
            Self.failure(body, contentType: contentType)
                == .validation([.notAnObject(.string(body))]))
    }

    @Test("with strictContentType off, no Content-Type or an empty one is read as JSON, as FastAPI before 0.165",
        arguments: [nil, ""] as [String?])
    func missingContentTypeLenient(contentType: String?) throws {
        #expect(CheckoutBody.isJSON(contentType: contentType, strict: false))
        #expect(!CheckoutBody.isJSON(contentType: "text/plain", strict: false))
        let body = try CheckoutBody.validate(
            body: Array(#"{"success_url":"https://app.example.com/ok"}"#.utf8), contentType: contentType,
            strictContentType: false, defaults: Self.defaults, policy: Self.policy)
        #expect(body == CheckoutBody(successURL: "https://app.example.com/ok", cancelURL: Self.defaults.cancel))
    }

    @Test(
        "a field that is not a string is a string_type item",
        arguments: [
            ("1", "1"), ("true", "true"), ("null", "null"),
            (#"["https://app.example.com"]"#, #"["https://app.example.com"]"#),
            (#"{"u":1}"#, #"{"u":1}"#), ("1.0", "1.0"),
        ])
    func fieldNotAString(value: String, echoed: String) {
        #expect(
            Self.detail(#"{"cancel_url":\#(value)}"#)
                == #"[{"type":"string_type","loc":["body","cancel_url"],"msg":"Input should be a valid string","input":\#(echoed)}]"#
        )
    }

    @Test("every bad field gets its own item, in field order, not body order")
    func bothFieldsBad() {
        #expect(
            Self.failure(#"{"cancel_url":"javascript:x","success_url":5}"#)?.bodyText
                == #"{"detail":[{"type":"string_type","loc":["body","success_url"],"msg":"Input should be a valid string","input":5},{"type":"value_error","loc":["body","cancel_url"],"msg":"Value error, URL must be absolute and use http or https","input":"javascript:x","ctx":{"error":"URL must be absolute and use http or https"}}]}"#
        )
    }

    static let long = "https://app.example.com/" + String(repeating: "a", count: 2049 - 24)

    @Test(
        "a URL breaking a redirect rule is a value_error with the reason",
        arguments: [
            ("/dashboard", "URL must be absolute and use http or https"),
            ("javascript:alert(1)", "URL must be absolute and use http or https"),
            ("ftp://app.example.com/x", "URL must be absolute and use http or https"),
            ("https://evil.example.com/x", "URL origin https://evil.example.com is not allowed"),
            ("https://app@evil.com/", "URL must not contain user information"),
            (#"https://evil.com\@app.example.com/"#, "URL must not contain a backslash"),
            (#"https://app.example.com/dash\board"#, "URL must not contain a backslash"),
            ("https://app.example.com:8443/x", "URL origin https://app.example.com:8443 is not allowed"),
            ("http://app.example.com/x", "URL origin http://app.example.com is not allowed"),
            (long, "URL must be at most 2048 characters"),
            ("https://app.example.com/\u{1}x", "URL must not contain control characters"),
            ("https://app.example.com/\u{0}", "URL must not contain control characters"),
            ("https://app.example.com/a b", "URL must not contain whitespace"),
        ])
    func urlRules(url: String, reason: String) {
        let error = Self.failure(JSONValue.object(JSONObject([("success_url", .string(url))])).serialized())
        guard case .validation(let issues)? = error else {
            Issue.record("expected a validation error, got \(String(describing: error))")
            return
        }
        #expect(
            issues == [
                ValidationIssue(
                    type: "value_error", location: ["body", "success_url"], message: "Value error, \(reason)",
                    input: .string(url), context: .object(JSONObject([("error", .string(reason))])))
            ])
    }

    @Test("a rejected URL's 422 body is byte for byte FastAPI's shape")
    func valueErrorBytes() {
        #expect(
            Self.failure(#"{"success_url":"https://app@evil.com"}"#)?.bodyText
                == #"{"detail":[{"type":"value_error","loc":["body","success_url"],"msg":"Value error, URL must not contain user information","input":"https://app@evil.com","ctx":{"error":"URL must not contain user information"}}]}"#
        )
    }

    @Test("a URL of exactly 2048 characters is accepted")
    func maxLengthAccepted() throws {
        let url = String(Self.long.dropLast())
        #expect(url.count == 2048)
        let body = try CheckoutBody.validate(
            body: JSONValue.object(JSONObject([("cancel_url", .string(url))])).serializedBytes(),
            contentType: "application/json",
            defaults: Self.defaults, policy: Self.policy)
        #expect(body.cancelURL == url)
    }

    @Test("Stripe's {CHECKOUT_SESSION_ID} placeholder passes through unchanged")
    func placeholder() throws {
        let url = "https://app.example.com/done?session_id={CHECKOUT_SESSION_ID}"
        let body = try CheckoutBody.validate(
            body: Array(#"{"success_url":"\#(url)","cancel_url":"https://APP.example.com:443/c"}"#.utf8),
            contentType: "application/json", defaults: Self.defaults, policy: Self.policy)
        #expect(body == CheckoutBody(successURL: url, cancelURL: "https://APP.example.com:443/c"))
    }

    @Test(
        "absent fields take the defaults and unknown fields such as price_id are ignored",
        arguments: [
            "{}", #"{"price_id":"price_cheap"}"#, #"{"price_id":"price_cheap","quantity":100,"success":null}"#,
        ])
    func defaultsAndUnknownFields(body: String) throws {
        let result = try CheckoutBody.validate(
            body: Array(body.utf8), contentType: "application/json", defaults: Self.defaults, policy: Self.policy)
        #expect(result == CheckoutBody(successURL: Self.defaults.success, cancelURL: Self.defaults.cancel))
    }

    @Test("a body that is not UTF-8 is unreadable (FastAPI's 400), not a 422")
    func invalidUTF8() throws {
        let error = try #require(Self.failure([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x7D]))
        guard case .unreadableBody = error else {
            Issue.record("expected .unreadableBody, got \(error)")
            return
        }
        #expect(error.response.head.status.code == 400)
        #expect(error.bodyText == #"{"detail":"There was an error parsing the body"}"#)
    }
}
