import HTTPResponder
import HTTPTypes

extension Response {
    /// A JSON response with `Cache-Control: no-store`: every answer of this endpoint is personal.
    static func json(_ status: HTTPResponse.Status, _ value: JSONValue, headers: HTTPFields = [:]) -> Response {
        var fields: HTTPFields = [.contentType: "application/json", .cacheControl: "no-store"]
        fields.append(contentsOf: headers)
        return Response(head: HTTPResponse(status: status, headerFields: fields), body: value.serializedBytes())
    }
}
