/// One item of a 422 `detail` list, shaped like pydantic v2's errors as FastAPI returns them.
public struct ValidationIssue: Sendable, Equatable {
    /// pydantic's error type: `missing`, `json_invalid`, `model_attributes_type`, `string_type`, `value_error`.
    public var type: String
    /// Where the problem is: `["body"]`, `["body", 12]`, `["body", "success_url"]`.
    public var location: [JSONValue]
    /// The human-readable message.
    public var message: String
    /// The offending input, echoed back.
    public var input: JSONValue
    /// Extra context (`{"error": reason}`), when the type has any.
    public var context: JSONValue?

    /// The item as JSON, members in FastAPI's order.
    var json: JSONValue {
        var pairs: [(String, JSONValue)] = [
            ("type", .string(type)),
            ("loc", .array(location)),
            ("msg", .string(message)),
            ("input", input),
        ]
        if let context { pairs.append(("ctx", context)) }
        return .object(JSONObject(pairs))
    }

    /// The body is empty.
    static let missingBody = ValidationIssue(
        type: "missing", location: ["body"], message: "Field required", input: .null, context: nil)

    /// The body is not JSON; `position` counts characters, as Python's `JSONDecodeError.pos` does.
    static func jsonInvalid(position: Int, reason: String) -> ValidationIssue {
        ValidationIssue(
            type: "json_invalid", location: ["body", .integer(String(position))], message: "JSON decode error",
            input: .object(JSONObject()), context: .object(JSONObject([("error", .string(reason))])))
    }

    /// The body is not a JSON object (or not JSON at all, by its content type).
    static func notAnObject(_ input: JSONValue) -> ValidationIssue {
        ValidationIssue(
            type: "model_attributes_type", location: ["body"],
            message: "Input should be a valid dictionary or object to extract fields from", input: input, context: nil)
    }

    /// A field is present but not a string.
    static func notAString(field: String, input: JSONValue) -> ValidationIssue {
        ValidationIssue(
            type: "string_type", location: ["body", .string(field)], message: "Input should be a valid string",
            input: input, context: nil)
    }

    /// A field is a string that fails our own check (the redirect URL rules).
    static func valueError(field: String, input: String, reason: String) -> ValidationIssue {
        ValidationIssue(
            type: "value_error", location: ["body", .string(field)], message: "Value error, \(reason)",
            input: .string(input), context: .object(JSONObject([("error", .string(reason))])))
    }
}
